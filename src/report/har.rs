//! `--har FILE`: HAR 1.2 (the HTTP Archive format browsers export and import) of every HTTP
//! exchange: request and response with their headers as sent, bodies (text as text, anything
//! else base64) as far as they were kept (`--max-message`), timings from the capture, and for a
//! WebSocket flow Chrome's `_webSocketMessages` on the entry of its upgrade (`type`
//! `send`/`receive`, `time` in epoch seconds, `opcode` 1 or 2, `data`, and `_sub`: the
//! message's sub-protocol units as the JSON record's `sub` objects), so that the file opens in
//! Chrome DevTools' Network panel and in HAR viewers. Each entry names its flow (`_flow`,
//! `_communityId`) to join with the other outputs.
//!
//! This printer has a view of its own of HTTP messages (requests paired with their responses by
//! exchange number) and WebSocket messages; other records are not in HAR. A flow's entries are
//! written when the flow ends, so memory holds only open flows' exchanges; the document is
//! written as it goes (`log`, `creator`, then each entry).

use crate::model::{
    Event, EventCtx, EventSink, Header, HttpHead, HttpMessage, OpCode, Record, WsMessage, ts_secs,
};
use crate::report::{IoState, Reporter};
use crate::stats::RunStats;
use crate::tcp::{Dir, FlowId, FlowMeta};
use crate::time::Timestamp;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;

/// One exchange being put together.
struct Entry {
    exchange: Option<u64>,
    request: Option<Part>,
    response: Option<Part>,
}

/// A request or response: its HAR object and its times.
struct Part {
    har: Value,
    start: Timestamp,
    end: Timestamp,
}

/// What a flow has so far.
#[derive(Default)]
struct FlowHar {
    entries: Vec<Entry>,
    ws: Vec<Value>,
    /// The entry of the 101 that switched the flow to WebSocket.
    upgraded: Option<usize>,
}

/// The HAR printer.
pub struct HarWriter<W: Write> {
    out: W,
    io: IoState,
    flows: HashMap<FlowId, FlowHar>,
    entries: u64,
}

impl<W: Write> HarWriter<W> {
    pub fn new(out: W) -> Self {
        let mut w = HarWriter {
            out,
            io: IoState::default(),
            flows: HashMap::new(),
            entries: 0,
        };
        let creator = json!({"name": "sockscope", "version": env!("CARGO_PKG_VERSION")});
        let head = format!("{{\"log\":{{\"version\":\"1.2\",\"creator\":{creator},\"entries\":[");
        let r = w.out.write_all(head.as_bytes());
        w.io.record(r);
        w
    }

    fn http(&mut self, meta: &FlowMeta, m: &HttpMessage<'_>) {
        let flow = self.flows.entry(meta.id).or_default();
        match m.head {
            HttpHead::Request { .. } => {
                flow.entries.push(Entry {
                    exchange: m.exchange,
                    request: Some(Part {
                        har: request(meta, m),
                        start: m.start_ts,
                        end: m.ts,
                    }),
                    response: None,
                });
            }
            HttpHead::Response { status, .. } => {
                // Interim responses (100 Continue, 103) are not exchanges in HAR.
                if (100..200).contains(&status) && status != 101 {
                    return;
                }
                let at = flow
                    .entries
                    .iter()
                    .position(|e| {
                        e.response.is_none() && e.exchange == m.exchange && m.exchange.is_some()
                    })
                    .or_else(|| flow.entries.iter().position(|e| e.response.is_none()));
                let part = Part {
                    har: response(m),
                    start: m.start_ts,
                    end: m.ts,
                };
                let at = match at {
                    Some(i) => i,
                    None => {
                        // A response to a request never seen (picked up mid-stream).
                        flow.entries.push(Entry {
                            exchange: m.exchange,
                            request: None,
                            response: None,
                        });
                        flow.entries.len() - 1
                    }
                };
                flow.entries[at].response = Some(part);
                if status == 101 {
                    flow.upgraded = Some(at);
                }
            }
        }
    }

    fn ws_message(&mut self, flow: FlowId, m: &WsMessage<'_>) {
        let (opcode, data) = match m.opcode {
            OpCode::Text => (1, String::from_utf8_lossy(m.data_head).into_owned()),
            OpCode::Binary => (
                2,
                base64::engine::general_purpose::STANDARD.encode(m.data_head),
            ),
            _ => return,
        };
        let ty = match m.dir {
            Dir::C2S => "send",
            Dir::S2C => "receive",
        };
        let mut message = json!({
            "type": ty,
            "time": ts_secs(m.ts),
            "opcode": opcode,
            "data": data,
        });
        // What the message meant to the connection's sub-protocol, as the JSON record's `sub`
        // objects (HAR allows fields of one's own, named with a leading underscore).
        if !m.sub.is_empty() {
            message["_sub"] = m
                .sub
                .iter()
                .map(|u| Value::Object(u.meaning.object()))
                .collect();
        }
        self.flows.entry(flow).or_default().ws.push(message);
    }

    /// Writes the entries of a flow that ended.
    fn flush_flow(&mut self, meta: &FlowMeta) {
        let Some(mut flow) = self.flows.remove(&meta.id) else {
            return;
        };
        let ws = std::mem::take(&mut flow.ws);
        for (i, e) in flow.entries.into_iter().enumerate() {
            let mut entry = entry(meta, e);
            if flow.upgraded == Some(i) {
                entry["_resourceType"] = "websocket".into();
                entry["_webSocketMessages"] = Value::Array(ws.clone());
            }
            let sep = if self.entries == 0 { "" } else { "," };
            self.entries += 1;
            let r = write!(self.out, "{sep}{entry}");
            self.io.record(r);
        }
    }
}

/// A header list as HAR has it.
fn headers(hs: &[Header<'_>]) -> Value {
    hs.iter()
        .map(|h| json!({"name": h.name, "value": String::from_utf8_lossy(h.value)}))
        .collect()
}

fn header<'a>(hs: &'a [Header<'a>], name: &str) -> Option<std::borrow::Cow<'a, str>> {
    hs.iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(h.value))
}

/// A URL as RFC 3986 allows it: bytes a URI may not hold (non-ASCII, controls, space,
/// `"<>\^`{|}`) percent-encoded, as browsers send a raw target.
fn uri_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        let allowed = b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
        if allowed {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn version(v: u8) -> String {
    format!("HTTP/1.{v}")
}

/// A body as HAR has it: text as text, anything else base64; whether it is whole.
fn body(m: &HttpMessage<'_>) -> (String, Option<&'static str>, Option<String>) {
    let kept = m.body_head;
    let (text, encoding) = match std::str::from_utf8(kept) {
        Ok(t) => (t.to_string(), None),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(kept),
            Some("base64"),
        ),
    };
    let comment = ((kept.len() as u64) < m.body_bytes).then(|| {
        format!(
            "the first {} of {} body bytes were kept (--max-message)",
            kept.len(),
            m.body_bytes
        )
    });
    (text, encoding, comment)
}

fn request(meta: &FlowMeta, m: &HttpMessage<'_>) -> Value {
    let HttpHead::Request {
        method,
        target,
        version: v,
    } = m.head
    else {
        return Value::Null;
    };
    let url = if target.starts_with("http://") || target.starts_with("https://") {
        uri_escape(target)
    } else {
        let host = header(m.headers, "host")
            .map(|h| h.into_owned())
            .unwrap_or_else(|| meta.server.to_string());
        uri_escape(&format!("http://{host}{target}"))
    };
    let query: Vec<Value> = target
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or_default())
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            json!({"name": n, "value": v})
        })
        .collect();
    let mut req = json!({
        "method": method,
        "url": url,
        "httpVersion": version(v),
        "cookies": [],
        "headers": headers(m.headers),
        "queryString": query,
        "headersSize": m.header_bytes,
        "bodySize": m.body_bytes,
    });
    if m.body_bytes > 0 {
        let (text, encoding, comment) = body(m);
        let mime = header(m.headers, "content-type").unwrap_or_default();
        let mut post = json!({"mimeType": mime, "text": text});
        if let Some(e) = encoding {
            post["_encoding"] = e.into();
        }
        if let Some(c) = comment {
            post["comment"] = c.into();
        }
        req["postData"] = post;
    }
    req
}

fn response(m: &HttpMessage<'_>) -> Value {
    let HttpHead::Response {
        version: v,
        status,
        reason,
    } = m.head
    else {
        return Value::Null;
    };
    let (text, encoding, comment) = body(m);
    let mime = header(m.headers, "content-type").unwrap_or_default();
    let mut content = json!({"size": m.body_bytes, "mimeType": mime});
    if m.body_bytes > 0 {
        content["text"] = text.into();
        if let Some(e) = encoding {
            content["encoding"] = e.into();
        }
        if let Some(c) = comment {
            content["comment"] = c.into();
        }
    }
    json!({
        "status": status,
        "statusText": reason,
        "httpVersion": version(v),
        "cookies": [],
        "headers": headers(m.headers),
        "content": content,
        "redirectURL": header(m.headers, "location").unwrap_or_default(),
        "headersSize": m.header_bytes,
        "bodySize": m.body_bytes,
    })
}

/// Milliseconds from `a` to `b` (never negative).
fn ms(a: Timestamp, b: Timestamp) -> f64 {
    (b.secs_since(a) * 1e3).max(0.0)
}

/// A whole entry. A side never seen is stood in for by an empty request (`GET` of the server)
/// or a status-0 response, as browsers export a request that got no answer.
fn entry(meta: &FlowMeta, e: Entry) -> Value {
    let start = e
        .request
        .as_ref()
        .or(e.response.as_ref())
        .map_or(meta.first_ts, |p| p.start);
    let (send, wait, receive) = match (&e.request, &e.response) {
        (Some(q), Some(r)) => (ms(q.start, q.end), ms(q.end, r.start), ms(r.start, r.end)),
        // HAR wants send, wait and receive non-negative: an unanswered request waited 0.
        (Some(q), None) => (ms(q.start, q.end), 0.0, 0.0),
        (None, Some(r)) => (0.0, 0.0, ms(r.start, r.end)),
        (None, None) => (0.0, 0.0, 0.0),
    };
    let total = send + wait + receive;
    let request = e.request.map_or_else(
        || {
            json!({"method": "GET", "url": format!("http://{}/", meta.server), "httpVersion": "HTTP/1.1",
                   "cookies": [], "headers": [], "queryString": [], "headersSize": -1, "bodySize": -1,
                   "comment": "the request was not captured"})
        },
        |p| p.har,
    );
    let response = e.response.map_or_else(
        || {
            json!({"status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
                   "content": {"size": 0, "mimeType": ""}, "redirectURL": "", "headersSize": -1,
                   "bodySize": -1, "comment": "no response was captured"})
        },
        |p| p.har,
    );
    json!({
        "startedDateTime": start.iso8601_millis(),
        "time": total,
        "request": request,
        "response": response,
        "cache": {},
        "timings": {"send": send, "wait": wait, "receive": receive},
        "serverIPAddress": meta.server.ip().to_string(),
        "connection": meta.id.to_string(),
        // The flow as the other outputs name it: its id and its Community ID.
        "_flow": meta.id,
        "_communityId": crate::tcp::identity::community_id(meta.client, meta.server),
    })
}

impl<W: Write> EventSink for HarWriter<W> {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        match event {
            Event::Record(Record::Http(m)) => self.http(ctx.flow, m),
            Event::Record(Record::WsMessage(m)) => self.ws_message(ctx.flow.id, m),
            Event::FlowClosed { .. } => self.flush_flow(ctx.flow),
            _ => {}
        }
    }
}

impl<W: Write> Reporter for HarWriter<W> {
    fn finish(&mut self, _stats: &RunStats) -> std::io::Result<()> {
        if let Some(e) = self.io.take() {
            return Err(e);
        }
        self.out.write_all(b"]}}\n")?;
        self.out.flush()
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
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
    fn urls_are_percent_encoded_where_a_uri_needs_it() {
        assert_eq!(uri_escape("http://h/a b?q=ß"), "http://h/a%20b?q=%C3%9F");
        assert_eq!(uri_escape("http://h/x?a=1&b=%20"), "http://h/x?a=1&b=%20");
    }
}
