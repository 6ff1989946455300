//! TLS as a dissector ([`TlsDissector`]) and how a connection is recognised as TLS ([`Tls`]: a
//! ClientHello or ServerHello record from either side, on any port).
//!
//! The dissector runs [`TlsConn`] over the connection and turns what it reports into records
//! (`tls`: handshake messages with their facts, alerts, ChangeCipherSpec, key updates), the
//! flow's TLS facts and costs ([`Cx::tls`]), and anomalies. The decrypted application data goes
//! to an inner dissector chosen by ALPN, fed inside the layer (`TLS 1.3`) with the record that
//! carried it, so that what it finds says so: `http/1.1` or no ALPN → HTTP/1.x (and on to
//! WebSocket after a 101, with every check of a plain connection); `h2` → HTTP/2, counted, not
//! parsed; any other protocol → counted. Without keys the records are counted and the flow is
//! `tls`.
//!
//! Secrets come from the run's [`KeyStore`] (`--keylog`, the capture's Decryption Secrets
//! Blocks, a followed file in `live`), asked whenever a direction needs keys it has not got,
//! so secrets that arrive after the connection began are used from the next record on.

use super::keylog::{KeyStore, SessionSecrets};
use super::session::{Epoch, TlsConn, TlsEvent, TlsSink};
use super::{suite, wire};
use crate::budget::{Held, box_bytes};
use crate::model::{Code, Record, RecordLayer, TlsRecord, TlsWhat};
use crate::proto::dissect::{Active, Cx, Detect, Detector, Dissector, Kept, MAX_KEPT, Probe, Step};
use crate::proto::http::{self, dissect::HttpDissector};
use crate::tcp::Dir;

/// Bytes of protected records held per direction while their secrets are missing, when
/// secrets may still come (a followed key log, secrets carried in the capture); given up to
/// the memory budget like any buffer.
pub const HOLD_WHILE_KEYS_MISSING: usize = 64 << 10;

/// The HTTP/2 connection preface a client sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What reads the decrypted application data.
enum Inner {
    /// Not chosen yet: ALPN unknown and no application data seen.
    Undecided,
    /// HTTP/1.x (and whatever it hands off to).
    Http(Active),
    /// HTTP/2: counted.
    Http2,
    /// A protocol sockscope does not read: counted.
    Opaque,
}

/// What the protocol selected by ALPN is, as far as the inner dissector goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alpn {
    Http1,
    H2,
    Other,
}

fn alpn_kind(name: &[u8]) -> Alpn {
    match name {
        b"http/1.1" | b"http/1.0" => Alpn::Http1,
        b"h2" => Alpn::H2,
        _ => Alpn::Other,
    }
}

/// The record of a direction being processed.
#[derive(Clone, Copy, Debug, Default)]
struct Current {
    content_type: u8,
    version: u16,
    len: u16,
    seq: Option<u64>,
}

/// A handshake message whose record waits for the facts the next event carries.
#[derive(Clone, Copy, Debug)]
struct Pending {
    dir: Dir,
    msg_type: u8,
    len: u32,
    encrypted: bool,
}

/// Everything of the dissector but the TLS state machine (so that both can be borrowed).
struct State {
    inner: Inner,
    alpn: Option<Alpn>,
    /// The client offered exactly one ALPN protocol (it is then what runs, when TLS 1.3 hides
    /// the server's choice from a capture without keys).
    offered_only: Option<Alpn>,
    /// `TLS 1.2`, `TLS 1.3` once negotiated.
    layer: &'static str,
    current: [Current; 2],
    /// The head of the current record's ciphertext, for `-x`.
    ciphertext: [Vec<u8>; 2],
    keep_ciphertext: usize,
    pending: Option<Pending>,
    /// ServerHello facts kept until `Negotiated`.
    server_hello: Option<(Dir, u32)>,
}

/// The TLS dissector of one connection.
pub struct TlsDissector {
    conn: TlsConn,
    keys: KeyStore,
    state: State,
    /// The client's first delivery (its ClientHello), held until the server's first bytes
    /// confirm that both sides speak TLS: a plain HTTP server answering a ClientHello with an
    /// error response makes the connection HTTP, its "request" a parse error, as it was before
    /// TLS was recognised (`captures/bad/http-parse-error.pcap`).
    held_hello: Option<Box<Kept>>,
    confirmed: bool,
}

impl TlsDissector {
    pub fn new(cx: &mut Cx<'_>) -> TlsDissector {
        let keep = if cx.display_bytes() > 0 {
            cx.config.tls_ciphertext
        } else {
            0
        };
        let mut conn = TlsConn::new();
        if cx.config.keys.may_grow() {
            conn.hold_while_keys_missing(HOLD_WHILE_KEYS_MISSING);
        }
        TlsDissector {
            conn,
            keys: cx.config.keys.clone(),
            state: State {
                inner: Inner::Undecided,
                alpn: None,
                offered_only: None,
                layer: "TLS",
                current: [Current::default(); 2],
                ciphertext: [Vec::new(), Vec::new()],
                keep_ciphertext: keep,
                pending: None,
                server_hello: None,
            },
            held_hello: None,
            confirmed: false,
        }
    }

    /// Both sides speak TLS: the connection is counted as TLS from here, and the client's held
    /// first delivery is read, as of its own packet.
    fn confirm(&mut self, cx: &mut Cx<'_>) {
        if self.confirmed {
            return;
        }
        self.confirmed = true;
        cx.tls();
        if let Some(k) = self.held_hello.take() {
            cx.as_of(k.pkt, |cx| {
                self.run(cx, |conn, sink| conn.feed(k.dir, &k.bytes, sink));
            });
        }
    }

    /// The server answered the ClientHello in plain HTTP: HTTP reads the connection from its
    /// first byte.
    fn not_tls(&mut self, cx: &mut Cx<'_>) -> Step {
        let mut next = Active::Reading(Box::new(HttpDissector::new(cx, false)));
        if let Some(k) = self.held_hello.take() {
            cx.as_of(k.pkt, |cx| next.feed(cx, k.dir, &k.bytes));
        }
        match next {
            Active::Reading(next) => Step::HandOff { next, consumed: 0 },
            Active::Undecided | Active::Opaque => Step::Opaque,
        }
    }

    /// Runs `f` over the TLS state machine with a sink that reports into `cx`.
    fn run<T>(
        &mut self,
        cx: &mut Cx<'_>,
        f: impl FnOnce(&mut TlsConn, &mut Bridge<'_, '_, '_>) -> T,
    ) -> T {
        let mut bridge = Bridge {
            cx,
            st: &mut self.state,
            keys: &self.keys,
        };
        let out = f(&mut self.conn, &mut bridge);
        bridge.flush_pending();
        out
    }
}

/// The sink [`TlsConn`] reports to: records, the flow's TLS summary, anomalies, and the inner
/// dissector.
struct Bridge<'a, 'c, 'x> {
    cx: &'c mut Cx<'x>,
    st: &'a mut State,
    keys: &'a KeyStore,
}

fn utf8(b: &[u8]) -> &str {
    // Names from the wire are shown escaped; one that is not UTF-8 is shown as what it is.
    std::str::from_utf8(b).unwrap_or("(not UTF-8)")
}

impl Bridge<'_, '_, '_> {
    fn handshake_record(&mut self, p: Pending) -> TlsRecord<'static> {
        let mut r = TlsRecord::new(
            p.dir,
            self.cx.now(),
            TlsWhat::Handshake {
                msg_type: p.msg_type,
            },
            wire::handshake_name(p.msg_type),
        );
        r.len = p.len;
        r.encrypted = p.encrypted;
        r
    }

    /// A handshake message kept for facts that did not come: reported as it is.
    fn flush_pending(&mut self) {
        if let Some(p) = self.st.pending.take() {
            let r = self.handshake_record(p);
            self.cx.emit(Record::Tls(&r));
        }
    }

    fn decide(&mut self, alpn: Alpn) {
        if self.st.alpn.is_none() {
            self.st.alpn = Some(alpn);
        }
    }

    /// The inner dissector, chosen at the first application data: by ALPN; without one,
    /// HTTP/2 if the data is its preface, HTTP/1.x if it starts with a start line (a request
    /// from the client, a response from the server), else a protocol sockscope does not read.
    fn inner_for(&mut self, dir: Dir, first: &[u8]) {
        if !matches!(self.st.inner, Inner::Undecided) || first.is_empty() {
            return;
        }
        let alpn = self.st.alpn.or(self.st.offered_only).unwrap_or_else(|| {
            let preface = first.len().min(H2_PREFACE.len());
            if first[..preface] == H2_PREFACE[..preface] {
                Alpn::H2
            } else if match dir {
                Dir::C2S => http::looks_like_request(first),
                Dir::S2C => http::looks_like_response(first),
            } {
                Alpn::Http1
            } else {
                Alpn::Other
            }
        });
        self.st.inner = match alpn {
            Alpn::Http1 => Inner::Http(Active::Reading(Box::new(HttpDissector::new(
                self.cx, false,
            )))),
            Alpn::H2 => {
                self.cx.mark_http2();
                Inner::Http2
            }
            Alpn::Other => Inner::Opaque,
        };
    }

    fn layer_record(&self, dir: Dir) -> RecordLayer<'_> {
        let c = self.st.current[dir.index()];
        RecordLayer {
            content_type: c.content_type,
            version: c.version,
            len: c.len,
            seq: c.seq,
            ciphertext: &self.st.ciphertext[dir.index()],
        }
    }

    fn plaintext(&mut self, dir: Dir, bytes: &[u8]) {
        self.cx.tls().plaintext_bytes[dir.index()] += bytes.len() as u64;
        self.inner_for(dir, bytes);
        let State {
            inner,
            layer,
            current,
            ciphertext,
            ..
        } = &mut *self.st;
        let Inner::Http(active) = inner else {
            return;
        };
        let c = current[dir.index()];
        let record = RecordLayer {
            content_type: c.content_type,
            version: c.version,
            len: c.len,
            seq: c.seq,
            ciphertext: &ciphertext[dir.index()],
        };
        self.cx
            .inside_record(layer, Some(&record), |cx| active.feed(cx, dir, bytes));
    }

    fn plaintext_gap(&mut self, dir: Dir, bytes: Option<u64>) {
        if let Some(b) = bytes {
            self.cx.tls().plaintext_gap_bytes[dir.index()] += b;
        }
        let record = self.layer_record(dir);
        let record = RecordLayer {
            ciphertext: &[],
            ..record
        };
        let layer = self.st.layer;
        if let Inner::Http(active) = &mut self.st.inner
            && let Some(d) = active.reading()
        {
            // Without a known length (CBC suites, a loss that hid the record count) the inner
            // protocol is told that something is missing, so that it resynchronises.
            let len = bytes.unwrap_or(1).max(1);
            self.cx
                .inside_record(layer, Some(&record), |cx| d.gap(cx, dir, len));
        }
    }
}

impl TlsSink for Bridge<'_, '_, '_> {
    fn secrets(&mut self, client_random: &[u8; 32]) -> Option<SessionSecrets> {
        self.keys.get(client_random)
    }

    fn event(&mut self, dir: Dir, event: TlsEvent<'_>) {
        let d = dir.index();
        match &event {
            TlsEvent::ClientHello(_) | TlsEvent::Negotiated(_) | TlsEvent::AlpnSelected(_) => {}
            TlsEvent::ServerHello(sh) if !sh.hello_retry => {}
            _ => self.flush_pending(),
        }
        match event {
            TlsEvent::Ciphertext(frag) => {
                let keep = self.st.keep_ciphertext.min(frag.len());
                let buf = &mut self.st.ciphertext[d];
                buf.clear();
                buf.extend_from_slice(&frag[..keep]);
            }
            TlsEvent::Record(info) => {
                self.st.current[d] = Current {
                    content_type: info.content_type,
                    version: info.version,
                    len: info.len,
                    seq: info.seq,
                };
                if !info.decrypted {
                    self.st.ciphertext[d].clear();
                }
                let protection = u64::from(info.explicit_iv)
                    + u64::from(info.tag)
                    + u64::from(info.padding)
                    + u64::from(info.inner_type_bytes);
                let t = self.cx.tls();
                t.records[d] += 1;
                t.records_decrypted[d] += u64::from(info.decrypted);
                t.record_bytes[d] += u64::from(info.len) + 5;
                t.record_header_bytes[d] += 5;
                t.protection_bytes[d] += protection;
                let content = info.inner_type.unwrap_or(info.content_type);
                if content != wire::CONTENT_APPLICATION_DATA {
                    let carried = info
                        .plaintext_len
                        .map_or_else(|| u64::from(info.len).saturating_sub(protection), u64::from);
                    t.handshake_bytes[d] += carried;
                }
                if info.decrypted && content == wire::CONTENT_APPLICATION_DATA {
                    t.decrypted = true;
                }
            }
            TlsEvent::Handshake {
                msg_type,
                len,
                encrypted,
                ..
            } => {
                self.st.pending = Some(Pending {
                    dir,
                    msg_type,
                    len,
                    encrypted,
                });
                let waits = matches!(
                    msg_type,
                    wire::HS_CLIENT_HELLO | wire::HS_SERVER_HELLO | wire::HS_ENCRYPTED_EXTENSIONS
                );
                if !waits {
                    self.flush_pending();
                }
            }
            TlsEvent::ClientHello(ch) => {
                let Some(p) = self.st.pending.take() else {
                    return;
                };
                let mut r = self.handshake_record(p);
                r.sni = ch.sni.map(utf8);
                r.alpn = ch.alpn().map(utf8).collect();
                r.version = suite::version_name(ch.max_version());
                r.suites_offered =
                    Some(ch.suites().filter(|&s| !suite::is_grease(s)).count() as u32);
                let offered: Vec<Alpn> = ch.alpn().map(alpn_kind).collect();
                self.st.offered_only = match offered[..] {
                    [only] => Some(only),
                    _ => None,
                };
                let t = self.cx.tls();
                t.sni = r.sni.map(str::to_string);
                t.alpn_offered = r.alpn.iter().map(|s| s.to_string()).collect();
                self.cx.emit(Record::Tls(&r));
            }
            TlsEvent::ServerHello(sh) => {
                if sh.hello_retry {
                    let mut r = TlsRecord::new(
                        dir,
                        self.cx.now(),
                        TlsWhat::Handshake {
                            msg_type: wire::HS_SERVER_HELLO,
                        },
                        "HelloRetryRequest",
                    );
                    r.version = suite::version_name(sh.version());
                    self.cx.emit(Record::Tls(&r));
                } else {
                    self.st.server_hello = self.st.pending.map(|p| (p.dir, p.len));
                }
            }
            TlsEvent::Negotiated(n) => {
                let p = self.st.pending.take();
                let version = suite::version_name(n.version);
                if let Some(v) = version {
                    self.st.layer = v;
                }
                let suite_name = suite::name(n.cipher_suite);
                let alpn = n.alpn.map(utf8);
                if let Some(a) = n.alpn {
                    self.decide(alpn_kind(a));
                }
                if let Some(p) = p {
                    let mut r = self.handshake_record(p);
                    r.version = version;
                    r.cipher_suite = Some(n.cipher_suite);
                    r.cipher_suite_name = suite_name;
                    r.alpn = alpn.into_iter().collect();
                    r.resumed = Some(n.resumed);
                    self.cx.emit(Record::Tls(&r));
                }
                let t = self.cx.tls();
                t.version = version;
                t.cipher_suite = suite_name;
                t.resumed = n.resumed;
                if let Some(a) = alpn {
                    t.alpn = Some(a.to_string());
                }
            }
            TlsEvent::AlpnSelected(a) => {
                self.decide(alpn_kind(a));
                self.cx.tls().alpn = Some(utf8(a).to_string());
                if let Some(p) = self.st.pending.take() {
                    let mut r = self.handshake_record(p);
                    r.alpn = vec![utf8(a)];
                    self.cx.emit(Record::Tls(&r));
                }
            }
            TlsEvent::Epoch(Epoch::Application { generation }) if generation > 0 => {
                self.cx.tls().key_updates += 1;
                let r = TlsRecord::new(
                    dir,
                    self.cx.now(),
                    TlsWhat::Keys { generation },
                    "KeyUpdate",
                );
                self.cx.emit(Record::Tls(&r));
            }
            TlsEvent::Epoch(_) => {}
            TlsEvent::ChangeCipherSpec => {
                let r = TlsRecord::new(
                    dir,
                    self.cx.now(),
                    TlsWhat::ChangeCipherSpec,
                    "ChangeCipherSpec",
                );
                self.cx.emit(Record::Tls(&r));
            }
            TlsEvent::Alert {
                level,
                description,
                encrypted,
            } => {
                self.cx.tls().alerts += 1;
                let mut r = TlsRecord::new(
                    dir,
                    self.cx.now(),
                    TlsWhat::Alert { level, description },
                    wire::alert_name(description),
                );
                r.encrypted = encrypted;
                self.cx.emit(Record::Tls(&r));
            }
            TlsEvent::Plaintext(p) => self.plaintext(dir, p),
            TlsEvent::PlaintextGap { bytes, .. } => self.plaintext_gap(dir, bytes),
            TlsEvent::Anomaly { code, detail } => self.cx.anomaly(code, Some(dir), detail),
        }
    }
}

impl Dissector for TlsDissector {
    fn name(&self) -> &'static str {
        "TLS"
    }

    fn feed(&mut self, cx: &mut Cx<'_>, dir: Dir, bytes: &[u8]) -> Step {
        if !self.confirmed {
            let first_hello = dir == Dir::C2S
                && self.held_hello.is_none()
                && bytes.len() <= MAX_KEPT
                && wire::sniff(bytes) == wire::Sniff::ClientHello;
            if first_hello {
                self.held_hello = Some(Kept::new(dir, cx.pkt, bytes));
                return Step::Continue;
            }
            if dir == Dir::S2C && self.held_hello.is_some() && http::looks_like_response(bytes) {
                return self.not_tls(cx);
            }
            self.confirm(cx);
        }
        self.run(cx, |conn, sink| conn.feed(dir, bytes, sink));
        Step::Continue
    }

    fn gap(&mut self, cx: &mut Cx<'_>, dir: Dir, len: u64) {
        self.confirm(cx);
        self.run(cx, |conn, sink| conn.gap(dir, len, sink));
    }

    fn end(&mut self, cx: &mut Cx<'_>, dir: Dir) {
        self.confirm(cx);
        self.run(cx, |conn, sink| {
            conn.end(dir, sink);
            let layer = sink.st.layer;
            if let Inner::Http(active) = &mut sink.st.inner
                && let Some(d) = active.reading()
            {
                sink.cx.inside(layer, |cx| d.end(cx, dir));
            }
        });
    }

    fn finish(&mut self, cx: &mut Cx<'_>) {
        self.confirm(cx);
        self.run(cx, |conn, sink| {
            conn.finish(sink);
            sink.flush_pending();
            let layer = sink.st.layer;
            if let Inner::Http(active) = &mut sink.st.inner
                && let Some(d) = active.reading()
            {
                sink.cx.inside(layer, |cx| d.finish(cx));
            }
        });
    }

    fn held(&self) -> Held {
        let inner = match &self.state.inner {
            Inner::Http(Active::Reading(d)) => d.held(),
            _ => Held::ZERO,
        };
        let cipher: usize = self.state.ciphertext.iter().map(Vec::capacity).sum();
        let hello = self.held_hello.as_ref().map_or(Held::ZERO, |k| {
            // Needed to read the session at all: not given up.
            Held::fixed(k.held().fixed + k.held().buffers)
        });
        // The record layer's buffers can all be given up (`TlsConn::give_way`), at the cost
        // of what they held.
        Held::fixed(box_bytes::<Self>())
            + Held::buffers(cipher + self.conn.held_bytes())
            + inner
            + hello
    }

    fn give_way(&mut self, cx: &mut Cx<'_>) {
        if self.confirmed {
            self.run(cx, |conn, sink| conn.give_way(sink));
        }
        let dumps: usize = self.state.ciphertext.iter().map(Vec::len).sum();
        if dumps > 0 {
            cx.anomaly(
                Code::TlsBudget,
                None,
                format!(
                    "memory budget: {dumps} bytes of ciphertext kept for -x dropped; no more \
                     are kept for this connection"
                ),
            );
        }
        self.state.ciphertext = [Vec::new(), Vec::new()];
        self.state.keep_ciphertext = 0;
        let layer = self.state.layer;
        if let Inner::Http(active) = &mut self.state.inner
            && let Some(d) = active.reading()
        {
            cx.inside(layer, |cx| d.give_way(cx));
        }
    }
}

/// TLS on any port, by content: a handshake record that starts a ClientHello or ServerHello.
pub struct Tls;

impl Detector for Tls {
    fn detect(&self, cx: &mut Cx<'_>, _probe: &Probe<'_>, _dir: Dir, bytes: &[u8]) -> Detect {
        match wire::sniff(bytes) {
            wire::Sniff::ClientHello | wire::Sniff::ServerHello => {
                Detect::Take(Box::new(TlsDissector::new(cx)))
            }
            wire::Sniff::NeedMore | wire::Sniff::NotTls => Detect::Pass,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::Synth;
    use super::*;
    use crate::model::{Code, Event, EventCtx, EventSink, FlowKind, HttpHead};
    use crate::proto::dissect::Solo;

    /// What a connection's dissection produced.
    #[derive(Default)]
    struct Seen {
        /// HTTP start lines, with the layers they came through.
        http: Vec<(String, Vec<&'static str>)>,
        tls: Vec<&'static str>,
        codes: Vec<Code>,
    }

    impl EventSink for Seen {
        fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
            match event {
                Event::Record(Record::Http(m)) => {
                    let line = match m.head {
                        HttpHead::Request { method, target, .. } => format!("{method} {target}"),
                        HttpHead::Response { status, .. } => status.to_string(),
                    };
                    let layers = ctx.layer.map(|l| l.names()).unwrap_or_default();
                    self.http.push((line, layers));
                }
                Event::Record(Record::Tls(t)) => self.tls.push(t.name),
                Event::Record(Record::Anomaly(a)) => self.codes.push(a.code),
                _ => {}
            }
        }
    }

    const REQUEST: &[u8] = b"GET /in HTTP/1.1\r\nHost: x\r\n\r\n";
    const RESPONSE: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";

    /// Runs a synthetic connection of `suite` through the dissector: the handshake, then a
    /// request and its response in application records. `keys`: the key log holds the
    /// session from the start; `late`: it is added after the handshake.
    fn run(suite: u16, keys: bool, late: bool) -> (Seen, Solo) {
        let synth = Synth::new(suite, false, 3).expect("suite");
        let mut solo = Solo::test();
        if keys {
            solo.config.keys.add_text(synth.keylog().as_bytes());
        }
        let mut seen = Seen::default();
        let mut d = TlsDissector::new(&mut solo.cx(None, &mut seen));
        for (dir, bytes) in synth.handshake() {
            d.feed(&mut solo.cx(None, &mut seen), dir, &bytes);
        }
        if late {
            solo.config.keys.add_text(synth.keylog().as_bytes());
        }
        let seq = synth.first_app_seq();
        let mut c = Vec::new();
        synth.app_record(Dir::C2S, seq, REQUEST, &mut c);
        d.feed(&mut solo.cx(None, &mut seen), Dir::C2S, &c);
        let mut s = Vec::new();
        synth.app_record(Dir::S2C, seq, RESPONSE, &mut s);
        d.feed(&mut solo.cx(None, &mut seen), Dir::S2C, &s);
        d.finish(&mut solo.cx(None, &mut seen));
        (seen, solo)
    }

    fn kind(solo: &Solo) -> FlowKind {
        solo.kinds.kind(&solo.meta).0
    }

    #[test]
    fn http_1_1_by_alpn_is_read_inside_the_layer() {
        let (seen, solo) = run(0xc02f, true, false);
        assert_eq!(
            seen.http,
            [
                ("GET /in".to_string(), vec!["TLS 1.2"]),
                ("204".to_string(), vec!["TLS 1.2"])
            ]
        );
        assert!(seen.codes.is_empty(), "{:?}", seen.codes);
        assert_eq!(seen.tls[..2], ["ClientHello", "ServerHello"]);
        assert_eq!(kind(&solo), FlowKind::Http);
        let tls = solo.summary.tls.as_deref().expect("tls summary");
        assert_eq!(
            tls.plaintext_bytes,
            [REQUEST.len() as u64, RESPONSE.len() as u64]
        );
        assert_eq!(tls.alpn.as_deref(), Some("http/1.1"));
        assert!(tls.decrypted);
        // Every record's header is counted, and what GCM adds (8-byte nonce, 16-byte tag).
        assert_eq!(
            tls.record_header_bytes,
            [5 * tls.records[0], 5 * tls.records[1]]
        );
        assert!(tls.protection_bytes[0] >= 2 * 24);
    }

    #[test]
    fn h2_by_alpn_is_counted_not_parsed_as_http_1() {
        let (seen, solo) = run(0x1301, true, false);
        assert!(seen.http.is_empty(), "{:?}", seen.http);
        assert_eq!(kind(&solo), FlowKind::Http2);
        let tls = solo.summary.tls.as_deref().expect("tls summary");
        assert_eq!(tls.alpn.as_deref(), Some("h2"));
        assert_eq!(
            tls.plaintext_bytes,
            [REQUEST.len() as u64, RESPONSE.len() as u64]
        );
    }

    #[test]
    fn without_keys_the_flow_is_tls_and_says_which_secrets_are_missing() {
        let (seen, solo) = run(0x1301, false, false);
        assert!(seen.http.is_empty());
        assert_eq!(seen.codes, [Code::TlsMissingSecrets]);
        assert_eq!(kind(&solo), FlowKind::Tls);
        let tls = solo.summary.tls.as_deref().expect("tls summary");
        assert_eq!(tls.version, Some("TLS 1.3"));
        assert_eq!(tls.cipher_suite, Some("TLS_AES_128_GCM_SHA256"));
        assert!(!tls.decrypted);
        assert!(tls.records[0] > 0 && tls.records[1] > 0);
    }

    #[test]
    fn secrets_that_arrive_after_the_handshake_decrypt_the_records_after_them() {
        // A key log read whole: the Finished messages go by without keys (counted, and the
        // missing secrets said); the application records after the secrets came decrypt.
        let (seen, solo) = run(0xc02f, false, true);
        assert_eq!(seen.codes, [Code::TlsMissingSecrets]);
        assert_eq!(seen.http.len(), 2, "{:?}", seen.http);
        assert_eq!(kind(&solo), FlowKind::Http);
        let tls = solo.summary.tls.as_deref().expect("tls summary");
        assert!(tls.records_decrypted[0] < tls.records[0] - 1);
    }

    /// A connection of `suite` whose secrets may still come (a capture that carries secrets,
    /// none of them this session's yet): its handshake and the client's request, fed.
    fn request_awaiting_secrets(suite: u16) -> (Synth, Solo, Seen, TlsDissector, Vec<u8>) {
        let synth = Synth::new(suite, false, 5).expect("suite");
        let mut solo = Solo::test();
        solo.config.keys.add_text(b"# secrets to come\n");
        let mut seen = Seen::default();
        let mut d = TlsDissector::new(&mut solo.cx(None, &mut seen));
        for (dir, bytes) in synth.handshake() {
            d.feed(&mut solo.cx(None, &mut seen), dir, &bytes);
        }
        let mut c = Vec::new();
        synth.app_record(Dir::C2S, synth.first_app_seq(), REQUEST, &mut c);
        d.feed(&mut solo.cx(None, &mut seen), Dir::C2S, &c);
        (synth, solo, seen, d, c)
    }

    #[test]
    fn records_wait_for_secrets_that_may_still_come() {
        // Secrets that may still come (a followed key log, secrets in the capture): the
        // records that need them are held and read, in order, once they come; nothing is
        // reported missing.
        let (synth, mut solo, mut seen, mut d, c) = request_awaiting_secrets(0x1301);
        assert!(d.held().buffers >= c.len(), "{:?}", d.held());
        assert!(seen.http.is_empty());
        solo.config.keys.add_text(synth.keylog().as_bytes());
        let mut s = Vec::new();
        synth.app_record(Dir::S2C, 0, RESPONSE, &mut s);
        d.feed(&mut solo.cx(None, &mut seen), Dir::S2C, &s);
        d.finish(&mut solo.cx(None, &mut seen));
        assert!(seen.codes.is_empty(), "{:?}", seen.codes);
        let tls = solo.summary.tls.as_deref().expect("tls summary");
        // Every protected record decrypted (the hellos and the middlebox ChangeCipherSpecs
        // are in the clear), the held request among them.
        assert_eq!(
            tls.alpn.as_deref(),
            Some("h2"),
            "EncryptedExtensions, decrypted late"
        );
        assert_eq!(
            tls.plaintext_bytes,
            [REQUEST.len() as u64, RESPONSE.len() as u64]
        );
        assert_eq!(tls.records_decrypted, [2, 3]);
    }

    #[test]
    fn records_held_for_secrets_that_never_come_are_counted_and_the_secrets_said_missing() {
        let (_, mut solo, mut seen, mut d, _) = request_awaiting_secrets(0xc02f);
        // The memory budget takes the held records back (each side's Finished, the client's
        // request): said per side, counted, the secrets said missing.
        d.give_way(&mut solo.cx(None, &mut seen));
        assert_eq!(d.held().buffers, 0);
        let said = [Code::TlsBudget, Code::TlsBudget, Code::TlsMissingSecrets];
        assert_eq!(seen.codes, said);
        d.finish(&mut solo.cx(None, &mut seen));
        assert_eq!(seen.codes, said);
        let tls = solo.summary.tls.as_deref().expect("tls summary");
        assert_eq!(tls.records_decrypted, [0, 0]);
        assert_eq!(
            tls.records[0], 5,
            "ClientHello, key exchange, ChangeCipherSpec, Finished, request"
        );
    }

    #[test]
    fn a_plain_http_server_answering_a_client_hello_keeps_the_connection_http() {
        let synth = Synth::new(0xc02f, false, 4).expect("suite");
        let mut solo = Solo::test();
        let mut seen = Seen::default();
        let mut active =
            Active::Reading(Box::new(TlsDissector::new(&mut solo.cx(None, &mut seen))));
        let hello = &synth.handshake()[0].1;
        active.feed(&mut solo.cx(None, &mut seen), Dir::C2S, hello);
        active.feed(
            &mut solo.cx(None, &mut seen),
            Dir::S2C,
            b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(active.reading().map(|d| d.name()), Some("HTTP"));
        assert_eq!(seen.codes, [Code::HttpParseError]);
        assert!(seen.tls.is_empty());
        assert!(solo.summary.tls.is_none());
    }
}
