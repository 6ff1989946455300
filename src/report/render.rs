//! How each record shows itself in the text views: the [`Render`] form of every record type,
//! written once here. A printer with no view of its own for a record draws it from this form
//! (the summary line's protocol column and info, the `-V` nodes, the `-x` dumps); printers with
//! their own view of a record use the parts that are the same.
//!
//! Everything that came from the capture is escaped here, as in every text printer.

use crate::decode::DetailNode;
use crate::model::sub::latency_text;
use crate::model::{
    Anomaly, Code, Dump, Handshake, HttpMessage, LatencyRecord, OpCode, RecordLayer, Render,
    SseEvent, TlsRecord, TlsWhat, View, WsFrame, WsMessage,
};
use crate::report::escape::{esc, escape};
use crate::report::style::Style;
use crate::report::verbose::{self, Flag, HttpExtras};
use crate::report::{hexdump, preview};
use std::borrow::Cow;
use std::fmt::Write as _;

/// `bytes`, at most `max` of them.
fn capped(bytes: &[u8], max: usize) -> &[u8] {
    bytes.get(..max).unwrap_or(bytes)
}

impl Render for HttpMessage<'_> {
    fn protocol(&self) -> &'static str {
        "HTTP"
    }

    /// The start line; as tshark, the media type of a message that has a body.
    fn info(&self, _view: &View) -> String {
        let mut info = verbose::start_line(&self.head);
        if self.body_bytes > 0
            && let Some(ct) = self
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-type"))
        {
            let media = ct.value.split(|&b| b == b';').next().unwrap_or_default();
            let _ = write!(info, " ({})", esc(media.trim_ascii()));
        }
        if !self.complete {
            info.push_str(" [incomplete]");
        }
        info
    }

    fn detail(&self, view: &View) -> Vec<DetailNode> {
        let extras = HttpExtras::default();
        vec![verbose::http(self, &extras, view.preview_chars, false)]
    }

    fn dumps(&self, view: &View) -> Vec<Dump<'_>> {
        let mut out = Vec::new();
        if !self.raw_head.is_empty() {
            out.push(Dump {
                label: "HTTP head",
                bytes: Cow::Borrowed(capped(self.raw_head, view.dump_bytes)),
                total: self.header_bytes,
            });
        }
        if self.body_bytes > 0 {
            out.push(Dump {
                label: if self.chunked {
                    "HTTP body, dechunked"
                } else {
                    "HTTP body"
                },
                bytes: Cow::Borrowed(capped(self.body_head, view.dump_bytes)),
                total: self.body_bytes,
            });
        }
        out
    }
}

impl Render for Handshake {
    fn protocol(&self) -> &'static str {
        "WebSocket"
    }

    /// The accept key's verdict and what was negotiated.
    fn info(&self, _view: &View) -> String {
        let mut title = String::from("WebSocket handshake: ");
        match (&self.accept, self.accept_valid) {
            (Some(_), true) => {
                title.push_str("✓ Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) as required")
            }
            (Some(a), false) => {
                let _ = write!(
                    title,
                    "✗ Sec-WebSocket-Accept {} should be {}",
                    esc(a),
                    esc(self.expected_accept.as_deref().unwrap_or("(no key)"))
                );
            }
            (None, _) => title.push_str("✗ no Sec-WebSocket-Accept"),
        }
        if let Some(p) = &self.subprotocol {
            let _ = write!(title, "; subprotocol {}", esc(p));
        }
        if self.deflate.is_some() {
            title.push_str("; permessage-deflate (messages below are inflated)");
        } else if !self.extensions.is_empty() {
            let _ = write!(title, "; extensions {}", esc(&self.extensions.join(", ")));
        }
        title
    }

    fn detail(&self, view: &View) -> Vec<DetailNode> {
        vec![verbose::handshake(self, Style::new(view.color))]
    }
}

impl Render for WsFrame<'_> {
    fn protocol(&self) -> &'static str {
        "WebSocket"
    }

    /// Opcode and flags as Wireshark's Info column shows them; a close frame's code, its name
    /// and reason, a text frame's first characters; the payload size, for every opcode.
    fn info(&self, view: &View) -> String {
        let (mut s, size) = frame_line(self, view);
        let _ = write!(s, " ({size})");
        s
    }

    fn detail(&self, view: &View) -> Vec<DetailNode> {
        vec![verbose::frame(self, view.preview_chars)]
    }

    /// The header, then the payload as sent (masked) and unmasked.
    fn dumps(&self, view: &View) -> Vec<Dump<'_>> {
        let mut out = vec![Dump {
            label: "WebSocket frame header",
            bytes: Cow::Borrowed(self.header),
            total: self.header.len() as u64,
        }];
        if self.payload_len == 0 {
            return out;
        }
        let shown = capped(self.payload_head, view.dump_bytes);
        let total = self.payload_len;
        match self.mask {
            Some(key) => {
                out.push(Dump {
                    label: "Payload on the wire, masked",
                    bytes: Cow::Owned(hexdump::apply_mask(shown, key)),
                    total,
                });
                let label = if self.rsv1 {
                    "Payload unmasked, compressed"
                } else {
                    "Payload unmasked"
                };
                out.push(Dump {
                    label,
                    bytes: Cow::Borrowed(shown),
                    total,
                });
            }
            None => {
                let label = if self.rsv1 {
                    "Payload, compressed"
                } else {
                    "Payload"
                };
                out.push(Dump {
                    label,
                    bytes: Cow::Borrowed(shown),
                    total,
                });
            }
        }
        out
    }
}

impl Render for WsMessage<'_> {
    fn protocol(&self) -> &'static str {
        "WebSocket"
    }

    /// Kind and length, how many frames, how much was inflated.
    fn info(&self, _view: &View) -> String {
        let kind = match self.opcode {
            OpCode::Text => "Text message",
            OpCode::Binary => "Binary message",
            _ => "Message",
        };
        let mut title = format!("{kind}, {} B", self.len);
        if self.frames > 1 {
            let _ = write!(title, " in {} frames", self.frames);
        }
        if self.compressed {
            let _ = write!(
                title,
                " (inflated from {} B of payload on the wire)",
                self.wire_len
            );
        }
        if self.valid_utf8 == Some(false) {
            title.push_str(" [invalid UTF-8]");
        }
        title
    }

    /// The message, then the connection's sub-protocol choice (on the first message decoded
    /// under it) and what the message meant, JSON pretty-printed.
    fn detail(&self, view: &View) -> Vec<DetailNode> {
        let mut nodes = vec![verbose::message(self, view.preview_chars)];
        if let Some(c) = self.sub_choice {
            let display = self.sub.first().map_or("", |u| u.display());
            nodes.push(DetailNode::leaf(escape(&c.line(display)).into_owned()));
        }
        nodes.extend(self.sub.iter().map(|u| escaped(u.detail())));
        nodes
    }

    /// An inflated message's bytes (the frames showed the rest).
    fn dumps(&self, view: &View) -> Vec<Dump<'_>> {
        if !self.compressed {
            return Vec::new();
        }
        vec![Dump {
            label: "Inflated message",
            bytes: Cow::Borrowed(capped(self.data_head, view.dump_bytes)),
            total: self.len,
        }]
    }
}

impl Render for SseEvent<'_> {
    fn protocol(&self) -> &'static str {
        "SSE"
    }

    fn info(&self, view: &View) -> String {
        let mut info = String::from("Server-Sent Event");
        if let Some(name) = self.event {
            let _ = write!(info, " [{}]", esc(name));
        }
        info.push_str(" \"");
        let max = view.line_chars;
        preview::text_cut(self.data, max, self.data.len() as u64, &mut info);
        info.push('"');
        info
    }

    fn detail(&self, view: &View) -> Vec<DetailNode> {
        vec![verbose::sse(self, view.preview_chars)]
    }

    fn dumps(&self, _view: &View) -> Vec<Dump<'_>> {
        vec![Dump {
            label: "Event data",
            bytes: Cow::Borrowed(self.data),
            total: self.data.len() as u64,
        }]
    }
}

impl Render for LatencyRecord {
    fn protocol(&self) -> &'static str {
        "Latency"
    }

    fn info(&self, _view: &View) -> String {
        escape(&latency_line(self)).into_owned()
    }

    fn detail(&self, _view: &View) -> Vec<DetailNode> {
        vec![DetailNode::leaf(escape(&latency_line(self)).into_owned())]
    }
}

/// One line for a `latency` record: `json-rpc "add" (client → server): 3 answered, p50
/// 612 µs, p90 710 µs, p99 710 µs, max 710 µs, 0 errors, 0 unanswered`.
pub fn latency_line(l: &LatencyRecord) -> String {
    let mut s = String::from(l.protocol);
    match &l.name {
        Some(n) => {
            let _ = write!(s, " {n:?}");
        }
        None => s.push_str(" (whole connection)"),
    }
    match l.dir {
        Some("c2s") => s.push_str(" (client → server)"),
        Some(_) => s.push_str(" (server → client)"),
        None => {}
    }
    let _ = write!(s, ": {} answered", l.count);
    for (name, v) in [
        ("p50", l.p50),
        ("p90", l.p90),
        ("p99", l.p99),
        ("max", l.max),
    ] {
        if let Some(v) = v {
            let _ = write!(s, ", {name} {}", latency_text(v));
        }
    }
    let _ = write!(s, ", {} errors, {} unanswered", l.errors, l.unanswered);
    s
}

/// A frame's summary line in two parts: opcode, flags and what the payload says (a close
/// frame's code, name and reason, a text frame's first characters), and the size note
/// (`5 B`), which the text view closes the line with, after what the message the frame
/// completes adds.
pub fn frame_line(f: &WsFrame<'_>, view: &View) -> (String, String) {
    let mut s = format!("WebSocket {}", verbose::opcode_title(f.opcode));
    if f.fin {
        s.push_str(" [FIN]");
    } else {
        s.push_str(" [FRAGMENT]");
    }
    if f.rsv1 {
        s.push_str(" [RSV1]");
    }
    if f.rsv2 {
        s.push_str(" [RSV2]");
    }
    if f.rsv3 {
        s.push_str(" [RSV3]");
    }
    if f.mask.is_some() {
        s.push_str(" [MASKED]");
    }
    if f.opcode == OpCode::Close {
        if let Some(code) = f.close_code {
            let _ = write!(s, " {code}");
            if (1000..=1015).contains(&code) {
                let _ = write!(s, " {}", verbose::close_code_title(code));
            }
        }
        if let Some(reason) = f.close_reason.filter(|r| !r.is_empty()) {
            s.push_str(" \"");
            preview::text_cut(reason, view.line_chars, reason.len() as u64, &mut s);
            s.push('"');
        }
    } else if f.opcode == OpCode::Text && !f.rsv1 && !f.payload_head.is_empty() {
        s.push_str(" \"");
        let max = view.line_chars;
        preview::text_cut(f.payload_head, max, f.payload_len, &mut s);
        s.push('"');
    }
    (s, format!("{} B", f.payload_len))
}

impl Render for TlsRecord<'_> {
    fn protocol(&self) -> &'static str {
        "TLS"
    }

    /// The message and what it settles: `ClientHello (SNI example.org, ALPN h2,http/1.1)`,
    /// `ServerHello (TLS 1.3, TLS_AES_128_GCM_SHA256)`, `Alert (fatal) bad_record_mac`.
    fn info(&self, _view: &View) -> String {
        let mut info = String::from(self.name);
        let mut facts: Vec<String> = Vec::new();
        match self.what {
            TlsWhat::Alert { level, .. } => {
                let _ = write!(info, " ({})", if level == 2 { "fatal" } else { "warning" });
            }
            TlsWhat::Keys { generation } => {
                let _ = write!(info, " (application keys, generation {generation})");
            }
            TlsWhat::Handshake { .. } | TlsWhat::ChangeCipherSpec => {}
        }
        if let Some(sni) = self.sni {
            facts.push(format!("SNI {}", esc(sni)));
        }
        if let Some(v) = self.version {
            facts.push(v.to_string());
        }
        if let Some(suite) = self.cipher_suite_name {
            facts.push(suite.to_string());
        }
        if !self.alpn.is_empty() {
            let names: Vec<String> = self.alpn.iter().map(|a| esc(a).to_string()).collect();
            facts.push(format!("ALPN {}", names.join(",")));
        }
        if self.resumed == Some(true) {
            facts.push("resumed".into());
        }
        if !facts.is_empty() {
            let _ = write!(info, " ({})", facts.join(", "));
        }
        if self.encrypted {
            info.push_str(" [encrypted]");
        }
        info
    }

    fn detail(&self, view: &View) -> Vec<DetailNode> {
        let mut children = vec![DetailNode::leaf(format!("Kind: {}", self.kind_name()))];
        if let TlsWhat::Handshake { msg_type } = self.what {
            children.push(DetailNode::leaf(format!(
                "Handshake Type: {} ({msg_type})",
                self.name
            )));
            children.push(DetailNode::leaf(format!("Length: {}", self.len)));
        }
        if let TlsWhat::Alert { level, description } = self.what {
            children.push(DetailNode::leaf(format!("Level: {level}")));
            children.push(DetailNode::leaf(format!(
                "Description: {} ({description})",
                self.name
            )));
        }
        if let Some(v) = self.version {
            children.push(DetailNode::leaf(format!("Version: {v}")));
        }
        if let Some(n) = self.suites_offered {
            children.push(DetailNode::leaf(format!("Cipher Suites offered: {n}")));
        }
        if let (Some(id), Some(name)) = (self.cipher_suite, self.cipher_suite_name) {
            children.push(DetailNode::leaf(format!(
                "Cipher Suite: {name} (0x{id:04x})"
            )));
        }
        if let Some(sni) = self.sni {
            children.push(DetailNode::leaf(format!("Server Name: {}", esc(sni))));
        }
        for a in &self.alpn {
            children.push(DetailNode::leaf(format!("ALPN Protocol: {}", esc(a))));
        }
        if let Some(r) = self.resumed {
            children.push(DetailNode::leaf(format!("Resumed: {r}")));
        }
        children.push(DetailNode::leaf(format!("Encrypted: {}", self.encrypted)));
        vec![DetailNode::new(
            format!("Transport Layer Security: {}", self.info(view)),
            children,
        )]
    }
}

/// The `-V` node of the record layer a decrypted PDU came through (`TLS 1.3` and the record
/// that completed it), drawn above the PDU's own tree.
pub fn record_layer_node(layer: &str, r: &RecordLayer<'_>) -> DetailNode {
    let seq = r
        .seq
        .map_or_else(|| "unknown".to_string(), |s| s.to_string());
    DetailNode::new(
        format!(
            "Transport Layer Security ({layer}), record of {} bytes",
            r.len
        ),
        vec![
            DetailNode::leaf(format!(
                "Content Type: {} ({})",
                content_type_name(r.content_type),
                r.content_type
            )),
            DetailNode::leaf(format!("Version: 0x{:04x}", r.version)),
            DetailNode::leaf(format!("Length: {}", r.len)),
            DetailNode::leaf(format!("Sequence Number: {seq}")),
        ],
    )
}

/// The `-x` dump of a record layer's ciphertext.
pub fn record_layer_dump<'a>(r: &RecordLayer<'a>) -> Dump<'a> {
    Dump {
        label: "TLS record (ciphertext)",
        bytes: Cow::Borrowed(r.ciphertext),
        total: u64::from(r.len),
    }
}

fn content_type_name(t: u8) -> &'static str {
    match t {
        20 => "Change Cipher Spec",
        21 => "Alert",
        22 => "Handshake",
        23 => "Application Data",
        24 => "Heartbeat",
        _ => "Unknown",
    }
}

/// The layer an anomaly code belongs to, as the protocol column names it.
pub fn layer_of(code: Code) -> &'static str {
    let name = code.as_str();
    if name.starts_with("ws.") {
        "WebSocket"
    } else if name.starts_with("http.") {
        "HTTP"
    } else if name.starts_with("tls.") {
        "TLS"
    } else if name.starts_with("ip.") {
        "IP"
    } else if name.starts_with("link.") {
        "Link"
    } else if name.starts_with("sub.") {
        "WebSocket"
    } else {
        "TCP"
    }
}

impl Render for Anomaly {
    fn protocol(&self) -> &'static str {
        layer_of(self.code)
    }

    fn info(&self, _view: &View) -> String {
        format!("[{}] {}", self.code.as_str(), esc(&self.detail))
    }

    fn detail(&self, _view: &View) -> Vec<DetailNode> {
        let flag = Flag {
            code: self.code,
            detail: self.detail.clone(),
        };
        vec![verbose::expert(&flag)]
    }
}

/// A detail tree with every label escaped (sub-protocol trees quote capture strings).
fn escaped(n: DetailNode) -> DetailNode {
    DetailNode::new(
        escape(&n.text).into_owned(),
        n.children.into_iter().map(escaped).collect(),
    )
}

/// What a message meant to its sub-protocol, for its summary line: each unit's summary (names
/// and ids cut at `width` characters), joined; `None` when nothing was decoded.
pub fn sub_info(m: &WsMessage<'_>, width: usize) -> Option<String> {
    if m.sub.is_empty() {
        return None;
    }
    let parts: Vec<String> = m
        .sub
        .iter()
        .map(|u| escape(&u.summary(width)).into_owned())
        .collect();
    Some(parts.join(", "))
}

/// `-x` dumps as the text views print them, each indented by `indent`.
pub fn dumps_text(out: &mut String, indent: &str, dumps: &[Dump<'_>]) {
    for d in dumps {
        hexdump::block(out, indent, d.label, &d.bytes, d.total);
    }
}
