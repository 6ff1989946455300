//! `--zeek DIR`: Zeek-style logs — `websocket.log` with the fields of Zeek's own WebSocket
//! analyzer and a subset of `http.log` — in Zeek's tab-separated format with its header lines
//! (`#separator`, `#set_separator`, `#empty_field`, `#unset_field`, `#path`, `#open`, `#fields`,
//! `#types`, and `#close` at the end), so that `zeek-cut` and Zui/Brim read them; or with
//! `--zeek-json`, one JSON object per line with the same field names, as Zeek writes with
//! `LogAscii::use_json`. Both logs carry the flow's `community_id` (as Zeek's community-id
//! package adds it) and a `uid` derived from it and the flow's first packet time, the same in
//! both logs.
//!
//! An `http.log` row is written when its response ends (or, unanswered, when the flow ends);
//! a `websocket.log` row when the handshake completes. Values are escaped as Zeek escapes them:
//! the separator, `\`, and every non-printable byte as `\xNN`, a field that would read as the
//! unset or empty marker likewise.

use crate::model::{Event, EventCtx, EventSink, Handshake, Header, HttpHead, HttpMessage, Record};
use crate::report::{IoState, Reporter};
use crate::stats::RunStats;
use crate::tcp::identity::community_id;
use crate::tcp::{FlowId, FlowMeta};
use crate::time::Timestamp;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// A log field's value.
enum Field {
    Time(Timestamp),
    Str(Option<String>),
    Addr(String),
    Port(u16),
    Count(Option<u64>),
    Vec(Option<Vec<String>>),
}

/// A log's columns: name and Zeek type.
type Columns = &'static [(&'static str, &'static str)];

const WEBSOCKET: Columns = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("host", "string"),
    ("uri", "string"),
    ("user_agent", "string"),
    ("subprotocol", "string"),
    ("client_protocols", "vector[string]"),
    ("server_extensions", "vector[string]"),
    ("client_extensions", "vector[string]"),
    ("client_key", "string"),
    ("server_accept", "string"),
    ("community_id", "string"),
];

const HTTP: Columns = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("trans_depth", "count"),
    ("method", "string"),
    ("host", "string"),
    ("uri", "string"),
    ("referrer", "string"),
    ("version", "string"),
    ("user_agent", "string"),
    ("origin", "string"),
    ("request_body_len", "count"),
    ("response_body_len", "count"),
    ("status_code", "count"),
    ("status_msg", "string"),
    ("community_id", "string"),
];

/// One log file.
struct Log {
    out: BufWriter<File>,
    columns: Columns,
}

impl Log {
    fn create(dir: &Path, path: &str, columns: Columns, json: bool, open: &str) -> io::Result<Log> {
        let mut out = BufWriter::new(File::create(dir.join(format!("{path}.log")))?);
        if !json {
            let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
            let types: Vec<&str> = columns.iter().map(|c| c.1).collect();
            write!(
                out,
                "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n\
                 #path\t{path}\n#open\t{open}\n#fields\t{}\n#types\t{}\n",
                names.join("\t"),
                types.join("\t")
            )?;
        }
        Ok(Log { out, columns })
    }

    fn row(&mut self, values: &[Field], json: bool) -> io::Result<()> {
        debug_assert_eq!(values.len(), self.columns.len());
        if json {
            let mut obj = Map::new();
            for ((name, _), v) in self.columns.iter().zip(values) {
                let v = match v {
                    Field::Time(t) => Value::from(crate::model::ts_secs(*t)),
                    Field::Str(Some(s)) | Field::Addr(s) => Value::from(s.as_str()),
                    Field::Port(p) => Value::from(*p),
                    Field::Count(Some(n)) => Value::from(*n),
                    Field::Vec(Some(v)) => Value::from(v.clone()),
                    Field::Str(None) | Field::Count(None) | Field::Vec(None) => continue,
                };
                obj.insert(name.to_string(), v);
            }
            crate::report::json::write_json(&mut self.out, &obj).map_err(io::Error::other)?;
            return self.out.write_all(b"\n");
        }
        let mut line = String::new();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                line.push('\t');
            }
            match v {
                Field::Time(t) => line.push_str(&t.display_micros().to_string()),
                Field::Str(Some(s)) | Field::Addr(s) => line.push_str(&escape(s, false)),
                Field::Port(p) => line.push_str(&p.to_string()),
                Field::Count(Some(n)) => line.push_str(&n.to_string()),
                Field::Vec(Some(v)) if v.is_empty() => line.push_str("(empty)"),
                Field::Vec(Some(v)) => {
                    let items: Vec<String> = v.iter().map(|s| escape(s, true)).collect();
                    line.push_str(&items.join(","));
                }
                Field::Str(None) | Field::Count(None) | Field::Vec(None) => line.push('-'),
            }
        }
        line.push('\n');
        self.out.write_all(line.as_bytes())
    }

    fn close(&mut self, json: bool, close: &str) -> io::Result<()> {
        if !json {
            writeln!(self.out, "#close\t{close}")?;
        }
        self.out.flush()
    }
}

/// A value as Zeek's ASCII writer writes it: the separator (and in a set the set separator),
/// `\` and non-printable bytes as `\xNN`; a value that reads as the unset (`-`) or empty
/// (`(empty)`) marker, or is empty, escaped so that it does not.
pub fn escape(s: &str, in_set: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    if s == "-" {
        return "\\x2d".into();
    }
    if s == "(empty)" {
        return "\\x28empty)".into();
    }
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b == b'\\' || b == b'\t' || (in_set && b == b',') || !(0x20..0x7f).contains(&b) {
            out.push_str(&format!("\\x{b:02x}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// A Zeek `#open`/`#close` date: `2026-11-23-16-02-02`.
fn log_date(t: Timestamp) -> String {
    let iso = t.iso8601_millis();
    // 2026-11-23T16:02:02.981Z
    format!("{}-{}", &iso[..10], iso[11..19].replace(':', "-"))
}

/// What a flow has told so far.
#[derive(Default)]
struct FlowLogs {
    /// Requests waiting for their response, by exchange.
    requests: Vec<Pending>,
    /// The upgrade request and 101 response, for the websocket.log row.
    upgrade: Option<(Pending, Vec<(String, String)>)>,
}

/// A request's fields kept until its response.
struct Pending {
    exchange: Option<u64>,
    ts: Timestamp,
    method: String,
    uri: String,
    version: String,
    headers: Vec<(String, String)>,
    body_len: u64,
}

fn owned_headers(hs: &[Header<'_>]) -> Vec<(String, String)> {
    hs.iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

fn get(hs: &[(String, String)], name: &str) -> Option<String> {
    hs.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// A comma-separated header's items (every occurrence of the header).
fn items(hs: &[(String, String)], name: &str) -> Option<Vec<String>> {
    let v: Vec<String> = hs
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!v.is_empty()).then_some(v)
}

/// The Zeek logs printer.
pub struct ZeekWriter {
    websocket: Log,
    http: Log,
    json: bool,
    flows: HashMap<FlowId, FlowLogs>,
    io: IoState,
}

impl ZeekWriter {
    /// Creates `dir` (if needed) and its two logs.
    pub fn create(dir: &Path, json: bool) -> io::Result<ZeekWriter> {
        std::fs::create_dir_all(dir)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let open = log_date(Timestamp::from_secs_nanos(now, 0));
        Ok(ZeekWriter {
            websocket: Log::create(dir, "websocket", WEBSOCKET, json, &open)?,
            http: Log::create(dir, "http", HTTP, json, &open)?,
            json,
            flows: HashMap::new(),
            io: IoState::default(),
        })
    }

    /// The flow's `uid`: `C` and 17 base62 digits of a hash of its Community ID and first
    /// packet time (Zeek's are random; these are the same in every log of the run and in every
    /// run over the same capture).
    fn uid(meta: &FlowMeta) -> String {
        use sha1::{Digest, Sha1};
        let mut h = Sha1::new();
        h.update(community_id(meta.client, meta.server).as_bytes());
        h.update(meta.first_ts.as_nanos().to_be_bytes());
        let d = h.finalize();
        let mut n = u128::from_be_bytes(d[..16].try_into().unwrap_or([0; 16]));
        const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut out = String::from("C");
        for _ in 0..17 {
            out.push(DIGITS[(n % 62) as usize] as char);
            n /= 62;
        }
        out
    }

    fn conn(meta: &FlowMeta) -> [Field; 5] {
        [
            Field::Str(Some(Self::uid(meta))),
            Field::Addr(meta.client.ip().to_string()),
            Field::Port(meta.client.port()),
            Field::Addr(meta.server.ip().to_string()),
            Field::Port(meta.server.port()),
        ]
    }

    fn http_row(&mut self, meta: &FlowMeta, q: &Pending, resp: Option<(u64, u16, &str)>) {
        let [uid, oh, op, rh, rp] = Self::conn(meta);
        let row = [
            Field::Time(q.ts),
            uid,
            oh,
            op,
            rh,
            rp,
            Field::Count(q.exchange.map(|e| e + 1)),
            Field::Str(Some(q.method.clone())),
            Field::Str(get(&q.headers, "host")),
            Field::Str(Some(q.uri.clone())),
            Field::Str(get(&q.headers, "referer")),
            Field::Str(Some(q.version.clone())),
            Field::Str(get(&q.headers, "user-agent")),
            Field::Str(get(&q.headers, "origin")),
            Field::Count(Some(q.body_len)),
            Field::Count(resp.map(|r| r.0)),
            Field::Count(resp.map(|r| u64::from(r.1))),
            Field::Str(resp.map(|r| r.2.to_string())),
            Field::Str(Some(community_id(meta.client, meta.server))),
        ];
        let r = self.http.row(&row, self.json);
        self.io.record(r);
    }

    fn on_http(&mut self, meta: &FlowMeta, m: &HttpMessage<'_>) {
        match m.head {
            HttpHead::Request {
                method,
                target,
                version,
            } => {
                let p = Pending {
                    exchange: m.exchange,
                    ts: m.start_ts,
                    method: method.to_string(),
                    uri: target.to_string(),
                    version: format!("1.{version}"),
                    headers: owned_headers(m.headers),
                    body_len: m.body_bytes,
                };
                self.flows.entry(meta.id).or_default().requests.push(p);
            }
            HttpHead::Response { status, reason, .. } => {
                if (100..200).contains(&status) && status != 101 {
                    return;
                }
                let flow = self.flows.entry(meta.id).or_default();
                let at = flow
                    .requests
                    .iter()
                    .position(|q| q.exchange.is_some() && q.exchange == m.exchange)
                    .or(if flow.requests.is_empty() {
                        None
                    } else {
                        Some(0)
                    });
                let Some(at) = at else {
                    return;
                };
                let q = flow.requests.remove(at);
                let upgrade = (status == 101).then(|| owned_headers(m.headers));
                self.http_row(meta, &q, Some((m.body_bytes, status, reason)));
                if let Some(resp) = upgrade {
                    self.flows.entry(meta.id).or_default().upgrade = Some((q, resp));
                }
            }
        }
    }

    fn on_handshake(&mut self, meta: &FlowMeta, h: &Handshake) {
        let upgrade = self.flows.get_mut(&meta.id).and_then(|f| f.upgrade.take());
        let (q, resp) = match &upgrade {
            Some((q, r)) => (Some(q), r.as_slice()),
            None => (None, &[][..]),
        };
        let req: &[(String, String)] = q.map_or(&[], |q| q.headers.as_slice());
        let [uid, oh, op, rh, rp] = Self::conn(meta);
        let row = [
            Field::Time(q.map_or(h.ts, |q| q.ts)),
            uid,
            oh,
            op,
            rh,
            rp,
            Field::Str(get(req, "host")),
            Field::Str(q.map(|q| q.uri.clone())),
            Field::Str(get(req, "user-agent")),
            Field::Str(h.subprotocol.clone()),
            Field::Vec(items(req, "sec-websocket-protocol")),
            Field::Vec(items(resp, "sec-websocket-extensions")),
            Field::Vec(items(req, "sec-websocket-extensions")),
            Field::Str(h.key.clone()),
            Field::Str(h.accept.clone()),
            Field::Str(Some(community_id(meta.client, meta.server))),
        ];
        let r = self.websocket.row(&row, self.json);
        self.io.record(r);
    }
}

impl EventSink for ZeekWriter {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        match event {
            Event::Record(Record::Http(m)) => self.on_http(ctx.flow, m),
            Event::Record(Record::Handshake(h)) => self.on_handshake(ctx.flow, h),
            Event::FlowClosed { .. } => {
                // Requests never answered are logged without a response, as Zeek does.
                if let Some(flow) = self.flows.remove(&ctx.flow.id) {
                    for q in &flow.requests {
                        self.http_row(ctx.flow, q, None);
                    }
                }
            }
            _ => {}
        }
    }
}

impl Reporter for ZeekWriter {
    fn finish(&mut self, _stats: &RunStats) -> io::Result<()> {
        if let Some(e) = self.io.take() {
            return Err(e);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let close = log_date(Timestamp::from_secs_nanos(now, 0));
        self.websocket.close(self.json, &close)?;
        self.http.close(self.json, &close)
    }

    fn take_io_error(&mut self) -> Option<io::Error> {
        self.io.take()
    }
    fn wants_packets(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_as_zeek_escapes_them() {
        assert_eq!(escape("a\tb\\c", false), "a\\x09b\\x5cc");
        assert_eq!(escape("x,y", false), "x,y");
        assert_eq!(escape("x,y", true), "x\\x2cy");
        assert_eq!(escape("-", false), "\\x2d");
        assert_eq!(escape("(empty)", false), "\\x28empty)");
        assert_eq!(escape("é\u{1b}", false), "\\xc3\\xa9\\x1b");
        assert_eq!(
            log_date(Timestamp::from_secs_nanos(1_795_449_722, 0)),
            "2026-11-23-16-02-02"
        );
    }
}
