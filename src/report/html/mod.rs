//! `sockscope report -o FILE.html` and `live --report FILE.html`: one self-contained HTML page
//! (overview, overhead charts, a sortable flow table, and per flow its ladder, message timeline,
//! handshake with the accept-key computation, decoded frames and anomalies), to open from disk
//! in any current browser with no network access.
//!
//! The page's data is the `--json` records themselves: [`HtmlReport`] runs the JSON printer
//! with its output going into the page, [`keep`] chooses which records fit, and the page's own
//! script (`app.js`, inline, no library) draws everything from them. Three record types that
//! `--json` does not print are added for the page only (docs/schema.json): `tcp` (every packet
//! of a detail flow, for the ladder's SYN, FIN, RST and ACK arrows), `ws_accept` (the SHA-1
//! step of the accept-key computation) and `sse_stream` (the head that opened an event stream,
//! where `--ladder` draws it). `--json` output is unchanged.
//!
//! Escaping: nothing from the capture becomes markup. The records sit in
//! `<script type="application/json">` blocks with every `<` written as `\u003c`, and the script
//! puts strings into the page as text nodes only. A Content-Security-Policy allows the page's
//! own script and style (by hash) and nothing else: no request leaves the page.

mod glossary;
pub mod keep;

use crate::decode::TcpFlags;
use crate::model::json::ts;
use crate::model::{Anomaly, Event, EventCtx, EventSink, HttpHead, Record};
use crate::report::json::{JsonPrinter, write_json};
use crate::report::{PacketDone, Reporter, gate};
use crate::stats::RunStats;
use crate::tcp::FlowId;
use crate::time::Timestamp;
use base64::Engine as _;
use serde::Serialize;
use serde_json::value::RawValue;
use sha1::{Digest as _, Sha1};
use sha2::Sha256;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Write};
use std::rc::Rc;

const TEMPLATE: &str = include_str!("page.html");
const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("app.js");

/// What the report was made from, for its title.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Files(Vec<String>),
    Interface(String),
}

/// The JSON printer's output: split into lines, each handed to the store.
struct Sink {
    store: Rc<RefCell<keep::Store>>,
    partial: Vec<u8>,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&rest[..nl]);
            let line = String::from_utf8_lossy(&self.partial);
            self.store.borrow_mut().line(&line);
            self.partial.clear();
            rest = &rest[nl + 1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A packet of a detail flow (report only).
#[derive(Serialize)]
struct TcpRecord {
    r#type: &'static str,
    flow: FlowId,
    dir: &'static str,
    #[serde(serialize_with = "ts")]
    ts: Timestamp,
    frame: u64,
    flags: Vec<&'static str>,
    seq: u32,
    ack: u32,
    len: usize,
}

/// The accept-key computation's middle step (report only).
#[derive(Serialize)]
struct AcceptRecord<'a> {
    r#type: &'static str,
    flow: FlowId,
    key: &'a str,
    guid: &'static str,
    sha1: String,
}

/// The head that opened an event stream, in the packet that completed it (report only).
#[derive(Serialize)]
struct SseStreamRecord<'a> {
    r#type: &'static str,
    flow: FlowId,
    dir: &'static str,
    #[serde(serialize_with = "ts")]
    ts: Timestamp,
    frame: Option<u64>,
    version: String,
    status: u16,
    reason: &'a str,
}

/// The page's facts about itself: what it was made from and what it left out.
#[derive(Serialize)]
struct Meta<'a> {
    generator: String,
    origin: &'a Origin,
    limits: keep::Limits,
    detail_flows: Vec<FlowId>,
    left_out: keep::LeftOut,
}

fn flag_names(f: TcpFlags) -> Vec<&'static str> {
    [
        (f.syn(), "SYN"),
        (f.fin(), "FIN"),
        (f.rst(), "RST"),
        (f.psh(), "PSH"),
        (f.ack(), "ACK"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect()
}

/// The HTML report: a [`Reporter`] that writes the page to `out` when the run finishes.
pub struct HtmlReport {
    json: JsonPrinter<Sink>,
    store: Rc<RefCell<keep::Store>>,
    /// Flows that ended in the packet being processed: forgotten once it is done.
    ended: Vec<FlowId>,
    origin: Origin,
    out: Option<Box<dyn Write>>,
    /// The output's name, for errors.
    name: String,
    line: Vec<u8>,
}

impl HtmlReport {
    /// A report written to `out` (named `name` in errors) when the run finishes.
    pub fn new(
        out: Box<dyn Write>,
        name: &std::path::Path,
        origin: Origin,
        preview: usize,
    ) -> Self {
        Self::with_limits(out, name, origin, preview, keep::Limits::default())
    }

    pub fn with_limits(
        out: Box<dyn Write>,
        name: &std::path::Path,
        origin: Origin,
        preview: usize,
        limits: keep::Limits,
    ) -> Self {
        let store = Rc::new(RefCell::new(keep::Store::new(limits)));
        let sink = Sink {
            store: Rc::clone(&store),
            partial: Vec::new(),
        };
        HtmlReport {
            json: JsonPrinter::new(sink, preview, None),
            store,
            ended: Vec::new(),
            origin,
            out: Some(out),
            name: crate::report::escape::path(name),
            line: Vec::new(),
        }
    }

    /// Adds one of the report's own records, if its flow's records are kept.
    fn own_record<T: Serialize>(&mut self, flow: FlowId, rec: &T) {
        let mut store = self.store.borrow_mut();
        if !store.wants(flow) {
            return;
        }
        self.line.clear();
        if write_json(&mut self.line, rec).is_ok() {
            store.line(&String::from_utf8_lossy(&self.line));
        }
    }
}

impl EventSink for HtmlReport {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        let flow = ctx.flow.id;
        self.json.event(ctx, event);
        match event {
            Event::Record(Record::Handshake(h)) => {
                if let Some(key) = &h.key {
                    let mut sha = Sha1::new();
                    sha.update(key.as_bytes());
                    sha.update(crate::proto::websocket::handshake::ACCEPT_GUID.as_bytes());
                    let sha1 = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
                    let rec = AcceptRecord {
                        r#type: "ws_accept",
                        flow,
                        key,
                        guid: crate::proto::websocket::handshake::ACCEPT_GUID,
                        sha1,
                    };
                    self.own_record(flow, &rec);
                }
            }
            Event::HttpHead(m) if gate::starts_event_stream(m) => {
                if let HttpHead::Response {
                    version,
                    status,
                    reason,
                } = m.head
                {
                    let rec = SseStreamRecord {
                        r#type: "sse_stream",
                        flow,
                        dir: m.dir.as_str(),
                        ts: m.ts,
                        frame: ctx.pkt.map(|p| p.frame),
                        version: format!("HTTP/1.{version}"),
                        status,
                        reason,
                    };
                    self.own_record(flow, &rec);
                }
            }
            Event::FlowClosed { .. } => {
                // A flow that ended with a packet of its own keeps that packet's record.
                if ctx.pkt.is_some() {
                    self.ended.push(flow);
                } else {
                    self.store.borrow_mut().forget(flow);
                }
            }
            _ => {}
        }
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        self.json.global_anomaly(anomaly, frame);
    }
}

impl Reporter for HtmlReport {
    fn packet_done(&mut self, done: &PacketDone<'_>) {
        if let Some(p) = done.placed {
            let rec = TcpRecord {
                r#type: "tcp",
                flow: p.flow,
                dir: p.dir.as_str(),
                ts: done.ts(),
                frame: done.frame(),
                flags: flag_names(p.flags),
                seq: p.seq,
                ack: p.ack,
                len: p.payload_len,
            };
            self.own_record(p.flow, &rec);
        }
        for flow in std::mem::take(&mut self.ended) {
            self.store.borrow_mut().forget(flow);
        }
    }

    fn finish(&mut self, stats: &RunStats) -> io::Result<()> {
        self.json.finish(stats)?;
        let store = std::mem::replace(
            &mut *self.store.borrow_mut(),
            keep::Store::new(keep::Limits::default()),
        );
        let limits = store.limits();
        let (lines, detail_flows, left_out) = store.into_lines();
        let meta = Meta {
            generator: format!("sockscope {}", env!("CARGO_PKG_VERSION")),
            origin: &self.origin,
            limits,
            detail_flows,
            left_out,
        };
        let page = page(&lines, &meta)?;
        let Some(mut out) = self.out.take() else {
            return Ok(());
        };
        out.write_all(page.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| match e.kind() {
                io::ErrorKind::BrokenPipe => e,
                kind => io::Error::new(kind, format!("{}: writing the report: {e}", self.name)),
            })
    }

    fn take_io_error(&mut self) -> Option<io::Error> {
        self.json.take_io_error()
    }
}

/// Another reporter's output (live's text or JSON) and the HTML report, from the same events.
pub struct WithReport {
    pub inner: Box<dyn Reporter>,
    /// The page (behind the `-Y` filter, if any).
    pub report: Box<dyn Reporter>,
}

impl EventSink for WithReport {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        self.inner.event(ctx, event);
        self.report.event(ctx, event);
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        self.inner.global_anomaly(anomaly, frame);
        self.report.global_anomaly(anomaly, frame);
    }
}

impl Reporter for WithReport {
    fn packet_done(&mut self, done: &PacketDone<'_>) {
        self.inner.packet_done(done);
        self.report.packet_done(done);
    }

    /// Both finish, whatever happens to the first; the first error is returned.
    fn finish(&mut self, stats: &RunStats) -> io::Result<()> {
        let inner = self.inner.finish(stats);
        let report = self.report.finish(stats);
        inner.and(report)
    }

    fn take_io_error(&mut self) -> Option<io::Error> {
        self.inner.take_io_error()
    }
    fn wants_packets(&self) -> bool {
        self.inner.wants_packets() || self.report.wants_packets()
    }
}

/// One record as its keys and raw values, in the order the JSON printer wrote them.
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Fields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                let mut v = Vec::new();
                while let Some(entry) = m.next_entry::<String, &'de RawValue>()? {
                    v.push(entry);
                }
                Ok(Fields(v))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// The records in the page's form: `{"schemas": [[key, ...], ...], "rows": [[schema, value,
/// ...], ...]}`, each record's keys written once per distinct key list and its values exactly
/// as the JSON printer wrote them, so that expanding a row gives back the record's line.
///
/// A column of a key list whose values repeat at length (the `sub` choice of thousands of
/// WebSocket flows, all "nothing recognised") is written once per distinct value: the form then
/// has `"shared": [value, ...]` and `"coded": [[column, ...] per key list]`, and in a coded
/// column a row holds the index of its value in `shared`.
pub fn pack(lines: &[String]) -> String {
    let mut schemas: Vec<Vec<String>> = Vec::new();
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    let mut parsed: Vec<(usize, Vec<&RawValue>)> = Vec::with_capacity(lines.len());
    for line in lines {
        let Ok(Fields(fields)) = serde_json::from_str::<Fields<'_>>(line) else {
            continue;
        };
        let (keys, values): (Vec<String>, Vec<&RawValue>) = fields.into_iter().unzip();
        let n = schemas.len();
        let at = *index.entry(keys.clone()).or_insert_with(|| {
            schemas.push(keys);
            n
        });
        parsed.push((at, values));
    }
    let coded = coded_columns(&schemas, &parsed);
    let mut shared: Vec<&str> = Vec::new();
    let mut shared_at: HashMap<&str, usize> = HashMap::new();
    let mut rows = String::with_capacity(lines.iter().map(String::len).sum::<usize>() / 2);
    for (at, values) in &parsed {
        rows.push_str(if rows.is_empty() { "[" } else { ",\n[" });
        rows.push_str(&at.to_string());
        for (i, v) in values.iter().enumerate() {
            rows.push(',');
            if coded[*at].contains(&i) {
                let n = shared.len();
                let k = *shared_at.entry(v.get()).or_insert_with(|| {
                    shared.push(v.get());
                    n
                });
                rows.push_str(&k.to_string());
            } else {
                rows.push_str(v.get());
            }
        }
        rows.push(']');
    }
    let mut out = String::from("{\"schemas\":");
    out.push_str(&serde_json::to_string(&schemas).unwrap_or_else(|_| "[]".into()));
    if !shared.is_empty() {
        out.push_str(",\"shared\":[");
        out.push_str(&shared.join(","));
        out.push_str("],\"coded\":");
        out.push_str(&serde_json::to_string(&coded).unwrap_or_else(|_| "[]".into()));
    }
    out.push_str(",\"rows\":[\n");
    out.push_str(&rows);
    out.push_str("]}");
    out
}

/// The columns of each key list worth writing once per distinct value: those whose values
/// would take at least [`CODED_SAVING`] bytes fewer so.
fn coded_columns(schemas: &[Vec<String>], rows: &[(usize, Vec<&RawValue>)]) -> Vec<Vec<usize>> {
    /// Per column: its bytes as written, its rows, and its distinct values' bytes.
    #[derive(Default)]
    struct Tally<'a> {
        bytes: usize,
        rows: usize,
        distinct: HashMap<&'a str, ()>,
        distinct_bytes: usize,
    }
    let mut tallies: Vec<Vec<Tally<'_>>> = schemas
        .iter()
        .map(|keys| keys.iter().map(|_| Tally::default()).collect())
        .collect();
    for (at, values) in rows {
        for (t, v) in tallies[*at].iter_mut().zip(values) {
            let v = v.get();
            t.bytes += v.len();
            t.rows += 1;
            if t.distinct.insert(v, ()).is_none() {
                t.distinct_bytes += v.len() + 1;
            }
        }
    }
    tallies
        .iter()
        .map(|columns| {
            columns
                .iter()
                .enumerate()
                .filter(|(_, t)| {
                    let digits = crate::model::flow::digits(t.distinct.len() as u64) as usize;
                    let index_bytes = t.rows * digits;
                    t.bytes > t.distinct_bytes + index_bytes + CODED_SAVING
                })
                .map(|(i, _)| i)
                .collect()
        })
        .collect()
}

/// What writing a column once per distinct value must save to be worth it.
const CODED_SAVING: usize = 4096;

/// JSON made safe inside a `<script>` element: `<` appears in JSON only inside strings, where
/// `\u003c` means the same, so no `</script>` or `<!--` can end or change the element.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
}

fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The whole page.
fn page(lines: &[String], meta: &Meta<'_>) -> io::Result<String> {
    let mut meta_json = Vec::new();
    write_json(&mut meta_json, meta).map_err(io::Error::other)?;
    let mut glossary = Vec::new();
    write_json(&mut glossary, &glossary::entries()).map_err(io::Error::other)?;
    let records = script_safe(&pack(lines));
    let csp = format!(
        "default-src 'none'; script-src {}; style-src {}; img-src data:",
        csp_hash(SCRIPT),
        csp_hash(STYLE)
    );
    let parts: [(&str, &str); 6] = [
        ("csp", &csp),
        ("style", STYLE),
        ("records", &records),
        ("meta", &script_safe(&String::from_utf8_lossy(&meta_json))),
        (
            "anomalies",
            &script_safe(&String::from_utf8_lossy(&glossary)),
        ),
        ("script", SCRIPT),
    ];
    let mut out =
        String::with_capacity(TEMPLATE.len() + records.len() + STYLE.len() + SCRIPT.len());
    let mut rest = TEMPLATE;
    // The template's slots are `{{name}}`; what fills them is never searched again.
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        let name = &rest[open + 2..open + close];
        out.push_str(&rest[..open]);
        match parts.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => out.push_str(text),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Opens the report's output: `-` is stdout, anything else a file created now (so that a path
/// that cannot be written fails before the capture is read).
pub fn open_output(path: &std::path::Path) -> io::Result<Box<dyn Write>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::BufWriter::new(io::stdout())));
    }
    let file = std::fs::File::create(path)?;
    Ok(Box::new(io::BufWriter::new(file)))
}

/// Says where the report went, on stderr (stdout may be the report itself).
pub fn announce(path: &std::path::Path) {
    if path.as_os_str() != "-" {
        let _ = writeln!(
            io::stderr(),
            "sockscope: wrote the report to {}",
            crate::report::escape::path(path)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_repeated_at_length_are_written_once() {
        let choice = r#"{"protocol":null,"reason":"nothing recognised in the first 4 messages"}"#;
        let lines: Vec<String> = (0..500)
            .map(|i| format!(r#"{{"type":"flow","flow":{i},"sub":{choice}}}"#))
            .chain([r#"{"type":"summary","flows":500}"#.to_string()])
            .collect();
        let packed = pack(&lines);
        let v: serde_json::Value = serde_json::from_str(&packed).unwrap();
        assert_eq!(v["coded"], serde_json::json!([[2], []]));
        assert_eq!(v["shared"].as_array().unwrap().len(), 1);
        assert_eq!(packed.matches("nothing recognised").count(), 1);
        assert_eq!(v["rows"][7], serde_json::json!([0, "flow", 7, 0]));
        assert!(packed.len() < lines.iter().map(String::len).sum::<usize>() / 4);
    }

    #[test]
    fn packing_keeps_every_value_exactly_and_each_key_list_once() {
        let lines = vec![
            r#"{"type":"x","ts":1795449722.98621,"s":"a\u001b<\/script>","n":null}"#.to_string(),
            r#"{"type":"x","ts":0.1,"s":"b","n":[1,{"k":2}]}"#.to_string(),
            r#"{"type":"summary","kinds":{"http":1}}"#.to_string(),
        ];
        let packed = pack(&lines);
        let v: serde_json::Value = serde_json::from_str(&packed).unwrap();
        assert_eq!(v["schemas"].as_array().unwrap().len(), 2);
        assert_eq!(
            packed,
            "{\"schemas\":[[\"type\",\"ts\",\"s\",\"n\"],[\"type\",\"kinds\"]],\"rows\":[\n\
             [0,\"x\",1795449722.98621,\"a\\u001b<\\/script>\",null],\n\
             [0,\"x\",0.1,\"b\",[1,{\"k\":2}]],\n\
             [1,\"summary\",{\"http\":1}]]}"
        );
    }

    #[test]
    fn nothing_from_the_capture_can_end_the_script_element() {
        let lines =
            vec![r#"{"type":"x","s":"</script><script>alert(1)</script><!--"}"#.to_string()];
        let safe = script_safe(&pack(&lines));
        assert!(!safe.contains('<'), "{safe}");
        let v: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(v["rows"][0][2], "</script><script>alert(1)</script><!--");
    }

    #[test]
    fn the_page_fills_every_slot_and_pins_its_script_and_style() {
        let meta = Meta {
            generator: "sockscope test".into(),
            origin: &Origin::Files(vec!["a{{records}}.pcap".into()]),
            limits: keep::Limits::default(),
            detail_flows: vec![],
            left_out: keep::LeftOut::default(),
        };
        let html = page(&[r#"{"type":"summary"}"#.to_string()], &meta).unwrap();
        // The only `{{` left is the file name's, which was not filled in again.
        assert_eq!(html.matches("{{").count(), 1, "an unfilled slot");
        assert!(html.contains(r#""files":["a{{records}}.pcap"]"#));
        assert_eq!(html.matches(r#"[0,"summary"]"#).count(), 1);
        assert!(html.contains(&csp_hash(SCRIPT)) && html.contains(&csp_hash(STYLE)));
    }
}
