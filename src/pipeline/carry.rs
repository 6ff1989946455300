//! Events carried from a worker thread to the thread that prints: what a worker's protocol layer
//! emitted, copied out of the bytes it borrowed (one arena of bytes per batch, not an allocation
//! per record), and given back as the very same borrowed [`Event`]s on the other side.
//!
//! Promises: [`Carried::replay`] hands the sink events equal, field for field, to the ones
//! [`Carried`] recorded, with the flow ids the caller maps them to; nothing here knows a
//! printer. A record type added to [`Record`] is added here too (the matches are exhaustive).

use crate::model::Code;
use crate::model::{
    Anomaly, Event, EventCtx, EventSink, FlowSummary, Handshake, Header, HttpHead, HttpMessage,
    LatencyRecord, Layer, Record, RecordLayer, SseEvent, SubChoice, SubUnit, TlsRecord, WsFrame,
    WsMessage,
};
use crate::report::json::IdPlaces;
use crate::tcp::{CloseHow, FlowId, FlowMeta, PacketRef};

/// Bytes in a batch's arena: offset and length. Arenas stay far below 4 GiB (a batch closes
/// at a few hundred KiB).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Span {
    pub at: u32,
    pub len: u32,
}

impl Span {
    /// Appends `bytes` to `arena`; where they are.
    pub fn put(arena: &mut Vec<u8>, bytes: &[u8]) -> Span {
        let at = arena.len() as u32;
        arena.extend_from_slice(bytes);
        Span {
            at,
            len: bytes.len() as u32,
        }
    }

    /// The bytes `span` names in `arena` (none if it is not there).
    pub fn of(arena: &[u8], span: Span) -> &[u8] {
        let at = span.at as usize;
        arena.get(at..at + span.len as usize).unwrap_or_default()
    }
}

/// One protocol a record was found inside: its name and the record of it that carried what
/// was found (TLS), with the ciphertext's bytes in the arena.
#[derive(Clone, Copy, Debug)]
pub(super) struct CarriedLayer {
    name: &'static str,
    record: Option<(RecordLayer<'static>, Span)>,
}

/// A TLS record with its strings in the arena.
#[derive(Clone, Debug)]
pub(super) struct CarriedTls {
    record: TlsRecord<'static>,
    sni: Option<Span>,
    alpn: Vec<Span>,
}

/// An HTTP message with its bytes in the arena.
#[derive(Clone, Copy, Debug)]
pub(super) struct CarriedHttp {
    msg: HttpMessage<'static>,
    head: CarriedHead,
    /// Index range in the batch's header list.
    headers: (u32, u32),
    upgrade: Option<Span>,
    body_head: Span,
    raw_head: Span,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum CarriedHead {
    Request {
        method: Span,
        target: Span,
        version: u8,
    },
    Response {
        version: u8,
        status: u16,
        reason: Span,
    },
}

/// A WebSocket frame with its bytes in the arena.
#[derive(Clone, Copy, Debug)]
pub(super) struct CarriedFrame {
    frame: WsFrame<'static>,
    header: Span,
    payload_head: Span,
    close_reason: Option<Span>,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct CarriedMessage {
    msg: WsMessage<'static>,
    data_head: Span,
    /// Index range in the batch's sub-protocol units.
    sub: (u32, u32),
    /// Index in the batch's sub-protocol choices.
    sub_choice: Option<u32>,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct CarriedSse {
    ts: crate::time::Timestamp,
    event: Option<Span>,
    id: Option<Span>,
    data: Span,
    len: u64,
}

/// A record; the larger ones by their index in the batch's list of their type, so that an
/// item stays small (it is written once and read once per event).
#[derive(Clone, Debug)]
pub(super) enum CarriedRecord {
    Http(u32),
    Handshake(Box<Handshake>),
    WsFrame(u32),
    WsMessage(u32),
    Sse(u32),
    Tls(u32),
    Anomaly(Box<Anomaly>),
    /// Its `flow` is the worker's id until replayed.
    Latency(Box<LatencyRecord>),
}

#[derive(Clone, Debug)]
pub(super) enum CarriedEvent {
    FlowOpened,
    HttpHead(u32),
    Record(CarriedRecord),
    Control {
        dir: crate::tcp::Dir,
        flags: crate::decode::TcpFlags,
    },
    FlowClosed {
        how: CloseHow,
        summary: Box<FlowSummary>,
    },
}

/// One thing a worker's sink was told.
#[derive(Clone, Debug)]
pub enum Item {
    Event {
        /// Index in the batch's flow metas (consecutive events of a flow share one).
        meta: u32,
        pkt: Option<PacketRef>,
        /// Index in the batch's layer chains, [`NO_LAYERS`] for none.
        layers: u32,
        /// The worker's id of the flow.
        flow: FlowId,
        event: CarriedEvent,
    },
    Global {
        anomaly: Box<Anomaly>,
        frame: u64,
    },
    /// The printer's line for an event, written here ([`crate::report::Reporter::record_lines`]),
    /// its bytes in the arena.
    Line {
        /// The worker's id of the flow.
        flow: FlowId,
        line: Span,
        /// Where the worker's numbers of the flow are in it.
        ids: IdPlaces,
        /// The code of the anomaly it is, to be counted.
        anomaly: Option<Code>,
    },
}

impl Item {
    /// The flow a flow's last event closed, if this is one.
    pub fn closes(&self) -> Option<FlowId> {
        match self {
            Item::Event {
                flow,
                event: CarriedEvent::FlowClosed { .. },
                ..
            } => Some(*flow),
            _ => None,
        }
    }
}

/// What a worker's protocol layer emitted, in order, with the bytes the events borrowed.
#[derive(Default)]
pub struct Carried {
    pub items: Vec<Item>,
    arena: Vec<u8>,
    /// The strings among the bytes.
    text: String,
    headers: Vec<(Span, Span)>,
    metas: Vec<FlowMeta>,
    /// Layer chains, each a range of `layer_parts` (outermost first).
    layers: Vec<(u32, u32)>,
    layer_parts: Vec<CarriedLayer>,
    tls: Vec<CarriedTls>,
    https: Vec<CarriedHttp>,
    frames: Vec<CarriedFrame>,
    messages: Vec<CarriedMessage>,
    subs: Vec<SubUnit>,
    choices: Vec<SubChoice>,
    sses: Vec<CarriedSse>,
}

const NO_LAYERS: u32 = u32::MAX;

impl Carried {
    /// Bytes its buffers hold (their capacity).
    pub fn held_bytes(&self) -> usize {
        self.bytes_of(|(_, capacity)| capacity)
    }

    /// Bytes of what it holds now.
    pub fn used_bytes(&self) -> usize {
        self.bytes_of(|(len, _)| len)
    }

    /// The sum over its buffers of `pick((len, capacity))` times the size of an element.
    fn bytes_of(&self, pick: impl Fn((usize, usize)) -> usize) -> usize {
        fn of<T>(v: &Vec<T>) -> ((usize, usize), usize) {
            ((v.len(), v.capacity()), std::mem::size_of::<T>())
        }
        let text = ((self.text.len(), self.text.capacity()), 1);
        let all = [
            text,
            of(&self.items),
            of(&self.arena),
            of(&self.headers),
            of(&self.metas),
            of(&self.layers),
            of(&self.layer_parts),
            of(&self.tls),
            of(&self.https),
            of(&self.frames),
            of(&self.messages),
            of(&self.subs),
            of(&self.choices),
            of(&self.sses),
        ];
        all.iter().map(|&(n, size)| pick(n) * size).sum()
    }

    /// Empties it, keeping its buffers.
    pub fn clear(&mut self) {
        self.items.clear();
        self.arena.clear();
        self.text.clear();
        self.headers.clear();
        self.metas.clear();
        self.layers.clear();
        self.layer_parts.clear();
        self.tls.clear();
        self.https.clear();
        self.frames.clear();
        self.messages.clear();
        self.subs.clear();
        self.choices.clear();
        self.sses.clear();
    }

    /// The index of `meta` in the list, pushed unless it equals the last one.
    fn put_meta(&mut self, meta: &FlowMeta) -> u32 {
        if let Some(last) = self.metas.last()
            && same_meta(last, meta)
        {
            return (self.metas.len() - 1) as u32;
        }
        self.metas.push(meta.clone());
        (self.metas.len() - 1) as u32
    }

    fn put_http_index(&mut self, m: &HttpMessage<'_>) -> u32 {
        let h = self.put_http(m);
        self.https.push(h);
        (self.https.len() - 1) as u32
    }

    /// Keeps a string in the text arena (read back without validating it again).
    fn put_str(&mut self, text: &str) -> Span {
        let at = self.text.len() as u32;
        self.text.push_str(text);
        Span {
            at,
            len: text.len() as u32,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> Span {
        Span::put(&mut self.arena, bytes)
    }

    fn put_http(&mut self, m: &HttpMessage<'_>) -> CarriedHttp {
        let head = match m.head {
            HttpHead::Request {
                method,
                target,
                version,
            } => CarriedHead::Request {
                method: self.put_str(method),
                target: self.put_str(target),
                version,
            },
            HttpHead::Response {
                version,
                status,
                reason,
            } => CarriedHead::Response {
                version,
                status,
                reason: self.put_str(reason),
            },
        };
        let first = self.headers.len() as u32;
        for h in m.headers {
            let pair = (self.put_str(h.name), self.put(h.value));
            self.headers.push(pair);
        }
        CarriedHttp {
            msg: HttpMessage {
                dir: m.dir,
                start_ts: m.start_ts,
                ts: m.ts,
                head: HttpHead::Response {
                    version: 0,
                    status: 0,
                    reason: "",
                },
                headers: &[],
                header_bytes: m.header_bytes,
                body_bytes: m.body_bytes,
                framing_bytes: m.framing_bytes,
                chunked: m.chunked,
                upgrade: None,
                body_head: &[],
                raw_head: &[],
                complete: m.complete,
                digest: m.digest,
                exchange: m.exchange,
            },
            head,
            headers: (first, self.headers.len() as u32),
            upgrade: m.upgrade.map(|u| self.put_str(u)),
            body_head: self.put(m.body_head),
            raw_head: self.put(m.raw_head),
        }
    }

    fn put_record(&mut self, r: &Record<'_>) -> CarriedRecord {
        match *r {
            Record::Http(m) => CarriedRecord::Http(self.put_http_index(m)),
            Record::Handshake(h) => CarriedRecord::Handshake(Box::new(h.clone())),
            Record::WsFrame(f) => {
                let c = CarriedFrame {
                    frame: WsFrame {
                        dir: f.dir,
                        ts: f.ts,
                        first_frame: f.first_frame,
                        fin: f.fin,
                        rsv1: f.rsv1,
                        rsv2: f.rsv2,
                        rsv3: f.rsv3,
                        opcode: f.opcode,
                        mask: f.mask,
                        payload_len: f.payload_len,
                        header: &[],
                        payload_head: &[],
                        close_code: f.close_code,
                        close_reason: None,
                        deflate: f.deflate,
                    },
                    header: self.put(f.header),
                    payload_head: self.put(f.payload_head),
                    close_reason: f.close_reason.map(|b| self.put(b)),
                };
                self.frames.push(c);
                CarriedRecord::WsFrame((self.frames.len() - 1) as u32)
            }
            Record::WsMessage(m) => {
                let first = self.subs.len() as u32;
                self.subs.extend(m.sub.iter().cloned());
                let sub = (first, self.subs.len() as u32);
                let sub_choice = m.sub_choice.map(|c| {
                    self.choices.push(c.clone());
                    (self.choices.len() - 1) as u32
                });
                let c = CarriedMessage {
                    msg: WsMessage {
                        dir: m.dir,
                        ts: m.ts,
                        opcode: m.opcode,
                        frames: m.frames,
                        wire_len: m.wire_len,
                        len: m.len,
                        compressed: m.compressed,
                        valid_utf8: m.valid_utf8,
                        data_head: &[],
                        digest: m.digest,
                        sub: &[],
                        sub_choice: None,
                    },
                    data_head: self.put(m.data_head),
                    sub,
                    sub_choice,
                };
                self.messages.push(c);
                CarriedRecord::WsMessage((self.messages.len() - 1) as u32)
            }
            Record::Sse(e) => {
                let c = CarriedSse {
                    ts: e.ts,
                    event: e.event.map(|s| self.put_str(s)),
                    id: e.id.map(|s| self.put_str(s)),
                    data: self.put(e.data),
                    len: e.len,
                };
                self.sses.push(c);
                CarriedRecord::Sse((self.sses.len() - 1) as u32)
            }
            Record::Tls(t) => {
                let c = CarriedTls {
                    record: TlsRecord {
                        dir: t.dir,
                        ts: t.ts,
                        what: t.what,
                        name: t.name,
                        len: t.len,
                        encrypted: t.encrypted,
                        version: t.version,
                        cipher_suite: t.cipher_suite,
                        cipher_suite_name: t.cipher_suite_name,
                        suites_offered: t.suites_offered,
                        sni: None,
                        alpn: Vec::new(),
                        resumed: t.resumed,
                    },
                    sni: t.sni.map(|s| self.put_str(s)),
                    alpn: t.alpn.iter().map(|a| self.put_str(a)).collect(),
                };
                self.tls.push(c);
                CarriedRecord::Tls((self.tls.len() - 1) as u32)
            }
            Record::Anomaly(a) => CarriedRecord::Anomaly(Box::new(a.clone())),
            Record::Latency(l) => CarriedRecord::Latency(Box::new(l.clone())),
        }
    }

    /// The chain of layers around a record, outermost first; its index.
    fn put_layers(&mut self, layer: &Layer<'_>) -> u32 {
        let from = self.layer_parts.len();
        let mut at = Some(layer);
        while let Some(l) = at {
            let record = l.record.map(|r| {
                let ciphertext = Span::put(&mut self.arena, r.ciphertext);
                (
                    RecordLayer {
                        content_type: r.content_type,
                        version: r.version,
                        len: r.len,
                        seq: r.seq,
                        ciphertext: &[],
                    },
                    ciphertext,
                )
            });
            self.layer_parts.push(CarriedLayer {
                name: l.name,
                record,
            });
            at = l.outer;
        }
        self.layer_parts[from..].reverse();
        self.layers
            .push((from as u32, self.layer_parts.len() as u32));
        (self.layers.len() - 1) as u32
    }

    /// Adds the printer's line for an event of flow `flow` (worker's id), as `write` writes it
    /// (nothing if it writes nothing).
    pub fn put_line(
        &mut self,
        flow: FlowId,
        anomaly: Option<Code>,
        write: impl FnOnce(&mut Vec<u8>) -> bool,
    ) {
        let at = self.arena.len();
        if !write(&mut self.arena) {
            self.arena.truncate(at);
            return;
        }
        self.arena.push(b'\n');
        let bytes = self.arena.get(at..).unwrap_or_default();
        let ids = IdPlaces::find(bytes);
        // Every record of a flow starts with its type and flow (see `IdPlaces`).
        debug_assert!(
            ids.any(),
            "no flow number in {:?}",
            String::from_utf8_lossy(bytes)
        );
        self.items.push(Item::Line {
            flow,
            line: Span {
                at: at as u32,
                len: bytes.len() as u32,
            },
            ids,
            anomaly,
        });
    }

    /// Item `i`, if it is a line: its bytes, where the flow's numbers are in them, and the
    /// anomaly code it counts.
    pub fn line(&self, i: usize) -> Option<(&[u8], IdPlaces, Option<Code>)> {
        match self.items.get(i)? {
            Item::Line {
                line, ids, anomaly, ..
            } => Some((self.bytes(*line), *ids, *anomaly)),
            _ => None,
        }
    }

    /// The summary item `i` closes its flow with, if it closes one.
    pub fn closing_summary(&mut self, i: usize) -> Option<&mut FlowSummary> {
        match self.items.get_mut(i)? {
            Item::Event {
                event: CarriedEvent::FlowClosed { summary, .. },
                ..
            } => Some(summary),
            _ => None,
        }
    }

    /// Replays item `i` into `sink`, with the flow's id and `tcp.stream` number replaced by
    /// the run's (`run`).
    pub fn replay(&mut self, i: usize, run: RunIds, sink: &mut dyn EventSink) {
        // The run's numbers are written into the recorded meta (no copy of it per event), and
        // into the records that name their flow.
        if let Some(Item::Event { meta, event, .. }) = self.items.get_mut(i) {
            if let Some(m) = self.metas.get_mut(*meta as usize) {
                m.id = run.flow;
                m.tcp_stream = run.tcp_stream;
            }
            if let CarriedEvent::Record(CarriedRecord::Latency(l)) = event {
                l.flow = run.flow;
            }
        }
        let Some(item) = self.items.get(i) else {
            return;
        };
        match item {
            // Lines are handed over by the caller ([`Carried::line`]).
            Item::Line { .. } => {}
            Item::Global { anomaly, frame } => sink.global_anomaly(anomaly, *frame),
            Item::Event {
                meta,
                pkt,
                layers,
                event,
                ..
            } => {
                let Some(meta) = self.metas.get(*meta as usize) else {
                    return;
                };
                let Some(chain) = self.layers.get(*layers as usize) else {
                    let ctx = EventCtx {
                        flow: meta,
                        pkt: *pkt,
                        layer: None,
                    };
                    return self.deliver(&ctx, event, sink);
                };
                let parts = self
                    .layer_parts
                    .get(chain.0 as usize..chain.1 as usize)
                    .unwrap_or_default();
                with_layers(&self.arena, parts, None, &mut |layer| {
                    let ctx = EventCtx {
                        flow: meta,
                        pkt: *pkt,
                        layer,
                    };
                    self.deliver(&ctx, event, sink);
                });
            }
        }
    }

    fn deliver(&self, ctx: &EventCtx<'_>, event: &CarriedEvent, sink: &mut dyn EventSink) {
        match event {
            CarriedEvent::FlowOpened => sink.event(ctx, Event::FlowOpened),
            CarriedEvent::HttpHead(h) => {
                let Some(h) = self.https.get(*h as usize) else {
                    return;
                };
                let headers = self.header_list(h);
                let m = self.http(h, &headers);
                sink.event(ctx, Event::HttpHead(&m));
            }
            CarriedEvent::Control { dir, flags } => sink.event(
                ctx,
                Event::Control {
                    dir: *dir,
                    flags: *flags,
                },
            ),
            CarriedEvent::FlowClosed { how, summary } => {
                sink.event(ctx, Event::FlowClosed { how: *how, summary })
            }
            CarriedEvent::Record(r) => match r {
                CarriedRecord::Http(h) => {
                    let Some(h) = self.https.get(*h as usize) else {
                        return;
                    };
                    let headers = self.header_list(h);
                    let m = self.http(h, &headers);
                    sink.event(ctx, Event::Record(Record::Http(&m)));
                }
                CarriedRecord::Handshake(h) => sink.event(ctx, Event::Record(Record::Handshake(h))),
                CarriedRecord::WsFrame(i) => {
                    let Some(c) = self.frames.get(*i as usize) else {
                        return;
                    };
                    let f = WsFrame {
                        header: self.bytes(c.header),
                        payload_head: self.bytes(c.payload_head),
                        close_reason: c.close_reason.map(|s| self.bytes(s)),
                        ..c.frame
                    };
                    sink.event(ctx, Event::Record(Record::WsFrame(&f)));
                }
                CarriedRecord::WsMessage(i) => {
                    let Some(c) = self.messages.get(*i as usize) else {
                        return;
                    };
                    let m = WsMessage {
                        data_head: self.bytes(c.data_head),
                        sub: self
                            .subs
                            .get(c.sub.0 as usize..c.sub.1 as usize)
                            .unwrap_or_default(),
                        sub_choice: c.sub_choice.and_then(|i| self.choices.get(i as usize)),
                        ..c.msg
                    };
                    sink.event(ctx, Event::Record(Record::WsMessage(&m)));
                }
                CarriedRecord::Sse(i) => {
                    let Some(c) = self.sses.get(*i as usize) else {
                        return;
                    };
                    let e = SseEvent {
                        ts: c.ts,
                        event: c.event.map(|s| self.str(s)),
                        id: c.id.map(|s| self.str(s)),
                        data: self.bytes(c.data),
                        len: c.len,
                    };
                    sink.event(ctx, Event::Record(Record::Sse(&e)));
                }
                CarriedRecord::Tls(i) => {
                    let Some(c) = self.tls.get(*i as usize) else {
                        return;
                    };
                    let t = TlsRecord {
                        sni: c.sni.map(|s| self.str(s)),
                        alpn: c.alpn.iter().map(|&s| self.str(s)).collect(),
                        ..c.record.clone()
                    };
                    sink.event(ctx, Event::Record(Record::Tls(&t)));
                }
                CarriedRecord::Anomaly(a) => sink.event(ctx, Event::Record(Record::Anomaly(a))),
                CarriedRecord::Latency(l) => sink.event(ctx, Event::Record(Record::Latency(l))),
            },
        }
    }

    fn bytes(&self, s: Span) -> &[u8] {
        Span::of(&self.arena, s)
    }

    /// A string kept by [`Carried::put_str`] (a span of whole strings: on char boundaries).
    fn str(&self, s: Span) -> &str {
        let at = s.at as usize;
        self.text.get(at..at + s.len as usize).unwrap_or_default()
    }

    fn header_list(&self, h: &CarriedHttp) -> Vec<Header<'_>> {
        let (from, to) = (h.headers.0 as usize, h.headers.1 as usize);
        self.headers
            .get(from..to)
            .unwrap_or_default()
            .iter()
            .map(|&(name, value)| Header {
                name: self.str(name),
                value: self.bytes(value),
            })
            .collect()
    }

    fn http<'a>(&'a self, h: &CarriedHttp, headers: &'a [Header<'a>]) -> HttpMessage<'a> {
        let head = match h.head {
            CarriedHead::Request {
                method,
                target,
                version,
            } => HttpHead::Request {
                method: self.str(method),
                target: self.str(target),
                version,
            },
            CarriedHead::Response {
                version,
                status,
                reason,
            } => HttpHead::Response {
                version,
                status,
                reason: self.str(reason),
            },
        };
        HttpMessage {
            head,
            headers,
            upgrade: h.upgrade.map(|s| self.str(s)),
            body_head: self.bytes(h.body_head),
            raw_head: self.bytes(h.raw_head),
            ..h.msg
        }
    }
}

/// Calls `f` with the chain of `parts` (outermost first) built on the stack.
fn with_layers(
    arena: &[u8],
    parts: &[CarriedLayer],
    outer: Option<&Layer<'_>>,
    f: &mut dyn FnMut(Option<&Layer<'_>>),
) {
    match parts.split_first() {
        None => f(outer),
        Some((part, rest)) => {
            let record = part.record.map(|(r, bytes)| RecordLayer {
                ciphertext: Span::of(arena, bytes),
                ..r
            });
            let layer = Layer {
                name: part.name,
                outer,
                record: record.as_ref(),
            };
            with_layers(arena, rest, Some(&layer), f);
        }
    }
}

/// The worker side: an [`EventSink`] that keeps what it is told.
impl EventSink for Carried {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        let event = match event {
            Event::FlowOpened => CarriedEvent::FlowOpened,
            Event::HttpHead(m) => CarriedEvent::HttpHead(self.put_http_index(m)),
            Event::Record(r) => CarriedEvent::Record(self.put_record(&r)),
            Event::Control { dir, flags } => CarriedEvent::Control { dir, flags },
            Event::FlowClosed { how, summary } => CarriedEvent::FlowClosed {
                how,
                summary: Box::new(summary.clone()),
            },
        };
        let meta = self.put_meta(ctx.flow);
        let layers = match ctx.layer {
            Some(layer) => self.put_layers(layer),
            None => NO_LAYERS,
        };
        self.items.push(Item::Event {
            meta,
            pkt: ctx.pkt,
            layers,
            flow: ctx.flow.id,
            event,
        });
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        self.items.push(Item::Global {
            anomaly: Box::new(anomaly.clone()),
            frame,
        });
    }
}

impl Item {
    /// The flow (as the worker numbered it) an event belongs to; `None` for a global anomaly.
    pub fn flow(&self) -> Option<FlowId> {
        match self {
            Item::Event { flow, .. } | Item::Line { flow, .. } => Some(*flow),
            Item::Global { .. } => None,
        }
    }
}

/// Whether two flow metas say the same (an event's meta is recorded once for a run of events
/// of one flow at one moment). Every field is compared: one added to [`FlowMeta`] must be
/// added here (the pattern is exhaustive).
fn same_meta(a: &FlowMeta, b: &FlowMeta) -> bool {
    let FlowMeta {
        id,
        client,
        server,
        role_basis,
        first_ts,
        last_ts,
        packets,
        payload_bytes,
        tcpip_header_bytes,
        gap_bytes,
        syn_seen,
        fin_seen,
        rst_seen,
        tcp_stream,
    } = a;
    *id == b.id
        && *packets == b.packets
        && *last_ts == b.last_ts
        && *payload_bytes == b.payload_bytes
        && *tcpip_header_bytes == b.tcpip_header_bytes
        && *gap_bytes == b.gap_bytes
        && *fin_seen == b.fin_seen
        && *rst_seen == b.rst_seen
        && *syn_seen == b.syn_seen
        && *role_basis == b.role_basis
        && *client == b.client
        && *server == b.server
        && *first_ts == b.first_ts
        && *tcp_stream == b.tcp_stream
}

/// A flow's numbers in the run, which a worker's own numbering is replaced by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunIds {
    pub flow: FlowId,
    /// tshark's `tcp.stream` (see [`FlowMeta::tcp_stream`]).
    pub tcp_stream: u64,
}
