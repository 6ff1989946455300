//! The protocol part of the `-V` detail tree, worded like Wireshark's packet details: HTTP start
//! line and headers as sent, the WebSocket handshake verdict (with how the accept key is
//! computed), every WebSocket frame's bits, message-level facts, Server-Sent Events, and each
//! anomaly as an "Expert Info" node. Built from events only; nothing here parses the wire.
//! Only built when `-V` is on, so it allocates freely.

use crate::decode::DetailNode;
use crate::decode::detail::bits;
use crate::model::{
    Code, Handshake, HttpHead, HttpMessage, OpCode, Severity, SseEvent, WsFrame, WsMessage,
};
use crate::report::escape::esc;
use crate::report::hexdump::plural;
use crate::report::preview;
use crate::report::style::{Paint, Style};
use std::fmt::Write as _;

/// The GUID RFC 6455 §1.3 appends to the key before hashing.
pub const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// An anomaly as shown next to the PDU it concerns.
#[derive(Clone, Debug)]
pub struct Flag {
    pub code: Code,
    pub detail: String,
}

/// Wireshark's name for an opcode.
pub fn opcode_title(op: OpCode) -> String {
    match op {
        OpCode::Continuation => "Continuation".into(),
        OpCode::Text => "Text".into(),
        OpCode::Binary => "Binary".into(),
        OpCode::Close => "Connection Close".into(),
        OpCode::Ping => "Ping".into(),
        OpCode::Pong => "Pong".into(),
        OpCode::Reserved(n) if n < 8 => format!("Non-Control Frame (Reserved {n:#x})"),
        OpCode::Reserved(n) => format!("Control Frame (Reserved {n:#x})"),
    }
}

/// The registered name of a close status code (RFC 6455 §7.4, IANA registry), or the range
/// it belongs to.
pub fn close_code_title(code: u16) -> &'static str {
    match code {
        1000 => "Normal Closure",
        1001 => "Going Away",
        1002 => "Protocol Error",
        1003 => "Unsupported Data",
        1004 => "Reserved",
        1005 => "No Status Received (never sent on the wire)",
        1006 => "Abnormal Closure (never sent on the wire)",
        1007 => "Invalid Frame Payload Data",
        1008 => "Policy Violation",
        1009 => "Message Too Big",
        1010 => "Mandatory Extension",
        1011 => "Internal Error",
        1012 => "Service Restart",
        1013 => "Try Again Later",
        1014 => "Bad Gateway",
        1015 => "TLS Handshake (never sent on the wire)",
        0..=999 => "not used",
        1016..=2999 => "reserved for the protocol",
        3000..=3999 => "registered (libraries, frameworks)",
        4000..=4999 => "private use (applications)",
        _ => "undefined",
    }
}

/// An HTTP message's start line as sent (escaped), without its line end: `GET / HTTP/1.1`,
/// `HTTP/1.1 200 OK`.
pub fn start_line(head: &HttpHead<'_>) -> String {
    match *head {
        HttpHead::Request {
            method,
            target,
            version,
        } => format!("{} {} HTTP/1.{version}", esc(method), esc(target)),
        HttpHead::Response {
            version,
            status,
            reason,
        } => format!("HTTP/1.{version} {status} {}", esc(reason)),
    }
}

/// The standard reason phrase of an HTTP status code, for `[Status Code Description]`.
pub fn status_title(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return None,
    })
}

fn yes(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

fn text_of(bytes: &[u8], max_chars: usize) -> String {
    let mut s = String::new();
    preview::text(bytes, max_chars, &mut s);
    s
}

fn hex_of(bytes: &[u8], max_chars: usize) -> String {
    let mut s = String::new();
    preview::hex(bytes, max_chars, &mut s);
    s
}

/// `" … [first N of M bytes]"` when a preview is shorter than the payload.
fn cut_note(shown: usize, total: u64) -> String {
    if (shown as u64) < total {
        format!(" … [first {shown} of {total} bytes]")
    } else {
        String::new()
    }
}

/// Text preview cut note in characters: says when `max_chars` cut the preview.
fn preview_cut(bytes: &[u8], max_chars: usize, total: u64) -> String {
    if preview::more_than(bytes, max_chars) || (bytes.len() as u64) < total {
        format!(" … [{total} bytes in all]")
    } else {
        String::new()
    }
}

/// The Expert Info node of an anomaly.
pub fn expert(flag: &Flag) -> DetailNode {
    let sev = match flag.code.severity() {
        Severity::Error => "Error",
        Severity::Warning => "Warning",
        Severity::Info => "Note",
    };
    DetailNode::new(
        format!(
            "[Expert Info ({sev}/{}): {}]",
            flag.code.as_str(),
            esc(&flag.detail)
        ),
        vec![
            DetailNode::leaf(format!("[{}]", flag.code.description())),
            DetailNode::leaf(format!("[Severity level: {sev}]")),
        ],
    )
}

/// Context the HTTP node can show beyond the message itself. URIs are kept as the bytes sent;
/// the node escapes them.
#[derive(Clone, Debug, Default)]
pub struct HttpExtras {
    /// `http://host/target`, for requests with a Host header.
    pub full_uri: Option<Vec<u8>>,
    /// For responses: the request's packet, its URI and when it was sent (seconds before).
    pub request_frame: Option<u64>,
    pub request_uri: Option<Vec<u8>>,
    pub time_since_request: Option<f64>,
}

/// `Hypertext Transfer Protocol`: start line, headers as sent, and the byte counts. With
/// `head_only` (a response whose body streams on, as an event stream) the body is not described.
pub fn http(
    m: &HttpMessage<'_>,
    extras: &HttpExtras,
    preview_chars: usize,
    head_only: bool,
) -> DetailNode {
    let mut kids = Vec::new();
    match m.head {
        HttpHead::Request {
            method,
            target,
            version,
        } => kids.push(DetailNode::new(
            format!("{}\\r\\n", start_line(&m.head)),
            vec![
                DetailNode::leaf(format!("Request Method: {}", esc(method))),
                DetailNode::leaf(format!("Request URI: {}", esc(target))),
                DetailNode::leaf(format!("Request Version: HTTP/1.{version}")),
            ],
        )),
        HttpHead::Response {
            version,
            status,
            reason,
        } => {
            let mut line = vec![
                DetailNode::leaf(format!("Response Version: HTTP/1.{version}")),
                DetailNode::leaf(format!("Status Code: {status}")),
            ];
            if let Some(t) = status_title(status) {
                line.push(DetailNode::leaf(format!("[Status Code Description: {t}]")));
            }
            line.push(DetailNode::leaf(format!(
                "Response Phrase: {}",
                esc(reason)
            )));
            kids.push(DetailNode::new(
                format!("{}\\r\\n", start_line(&m.head)),
                line,
            ));
        }
    }
    for h in m.headers {
        kids.push(DetailNode::leaf(format!(
            "{}: {}\\r\\n",
            esc(h.name),
            text_of(h.value, usize::MAX)
        )));
    }
    kids.push(DetailNode::leaf("\\r\\n"));
    if let Some(uri) = &extras.full_uri {
        kids.push(DetailNode::leaf(format!(
            "[Full request URI: {}]",
            esc(uri)
        )));
    }
    if let Some(f) = extras.request_frame {
        kids.push(DetailNode::leaf(format!("[Request in frame: {f}]")));
    }
    if let Some(t) = extras.time_since_request {
        kids.push(DetailNode::leaf(format!(
            "[Time since request: {t:.6} seconds]"
        )));
    }
    if let Some(uri) = &extras.request_uri {
        kids.push(DetailNode::leaf(format!("[Request URI: {}]", esc(uri))));
    }
    kids.push(DetailNode::leaf(format!(
        "[Head length: {} byte{} (start line, {} header{}, blank line)]",
        m.header_bytes,
        plural(m.header_bytes),
        m.headers.len(),
        plural(m.headers.len() as u64)
    )));
    if head_only {
        kids.push(DetailNode::leaf(
            "[Body: an event stream, shown event by event below]",
        ));
        return DetailNode::new("Hypertext Transfer Protocol", kids);
    }
    let mut body = format!(
        "[Body length: {} byte{}",
        m.body_bytes,
        plural(m.body_bytes)
    );
    if m.chunked {
        let _ = write!(
            body,
            ", chunked (+{} byte{} of chunk framing)",
            m.framing_bytes,
            plural(m.framing_bytes)
        );
    }
    body.push(']');
    kids.push(DetailNode::leaf(body));
    if let Some(u) = m.upgrade {
        kids.push(DetailNode::leaf(format!(
            "[Upgrade requested to: {}]",
            esc(u)
        )));
    }
    if !m.complete {
        kids.push(DetailNode::leaf(
            "[Incomplete: the stream ended or broke before the message did]",
        ));
    }
    if !m.body_head.is_empty() {
        let textual = std::str::from_utf8(m.body_head).is_ok();
        let shown = if textual {
            text_of(m.body_head, preview_chars)
        } else {
            hex_of(m.body_head, preview_chars)
        };
        let label = if textual { "Text" } else { "Data" };
        kids.push(DetailNode::leaf(format!(
            "File Data: {label}: {shown}{}",
            preview_cut(m.body_head, preview_chars, m.body_bytes)
        )));
    }
    DetailNode::new("Hypertext Transfer Protocol", kids)
}

/// The handshake verdict, shown under the 101 response.
pub fn handshake(h: &Handshake, style: Style) -> DetailNode {
    let mut kids = Vec::new();
    kids.push(DetailNode::leaf(format!(
        "Sec-WebSocket-Key: {}",
        esc(h.key.as_deref().unwrap_or("(missing)"))
    )));
    let mut computed = DetailNode::new(
        format!(
            "[Expected Sec-WebSocket-Accept: {}]",
            esc(h
                .expected_accept
                .as_deref()
                .unwrap_or("(no key to compute it from)"))
        ),
        Vec::new(),
    );
    computed.children.push(DetailNode::leaf(format!(
        "[= base64(SHA-1(key + \"{WS_GUID}\"))]"
    )));
    if let Some(k) = &h.key {
        computed.children.push(DetailNode::leaf(format!(
            "[SHA-1 input: \"{}{WS_GUID}\"]",
            esc(k)
        )));
    }
    kids.push(computed);
    let verdict = match (&h.accept, h.accept_valid) {
        (Some(a), true) => {
            let mut s = format!("Sec-WebSocket-Accept: {} ", esc(a));
            style.push(&mut s, Paint::Ok, "✓ matches");
            s
        }
        (Some(a), false) => {
            let mut s = format!("Sec-WebSocket-Accept: {} ", esc(a));
            style.push(&mut s, Paint::Error, "✗ does not match");
            s
        }
        (None, _) => {
            let mut s = String::from("Sec-WebSocket-Accept: ");
            style.push(&mut s, Paint::Error, "✗ missing");
            s
        }
    };
    kids.push(DetailNode::leaf(verdict));
    kids.push(DetailNode::leaf(format!(
        "Sec-WebSocket-Version: {}",
        esc(h.version.as_deref().unwrap_or("(missing)"))
    )));
    kids.push(DetailNode::leaf(format!(
        "Subprotocol: {}",
        esc(h.subprotocol.as_deref().unwrap_or("(none)"))
    )));
    if h.extensions.is_empty() {
        kids.push(DetailNode::leaf("Extensions: (none)"));
    } else {
        kids.push(DetailNode::leaf(format!(
            "Extensions: {}",
            esc(&h.extensions.join(", "))
        )));
    }
    if let Some(d) = h.deflate {
        let takeover = |no: bool| if no { "reset per message" } else { "kept" };
        kids.push(DetailNode::new(
            "[permessage-deflate negotiated: RSV1 marks compressed messages]",
            vec![
                DetailNode::leaf(format!(
                    "[Client → server: window {} bits, context {}]",
                    d.client_max_window_bits,
                    takeover(d.client_no_context_takeover)
                )),
                DetailNode::leaf(format!(
                    "[Server → client: window {} bits, context {}]",
                    d.server_max_window_bits,
                    takeover(d.server_no_context_takeover)
                )),
            ],
        ));
    }
    if let Some(o) = &h.origin {
        kids.push(DetailNode::leaf(format!("Origin: {}", esc(o))));
    }
    kids.push(DetailNode::leaf(format!(
        "[Handshake size: request head {} bytes + response head {} bytes]",
        h.request_bytes, h.response_bytes
    )));
    DetailNode::new("WebSocket Handshake", kids)
}

/// One frame's header bits and payload, as Wireshark's WebSocket dissector shows them.
pub fn frame(f: &WsFrame<'_>, preview_chars: usize) -> DetailNode {
    let b0 = (u64::from(f.fin) << 7)
        | (u64::from(f.rsv1) << 6)
        | (u64::from(f.rsv2) << 5)
        | (u64::from(f.rsv3) << 4)
        | u64::from(f.opcode.as_u8());
    let rsv = (b0 >> 4) & 0x7;
    // The length encoding actually used follows from the header's size (2, 4 or 10 bytes
    // before the masking key), which also shows non-minimal encodings faithfully.
    let base_len = f
        .header
        .len()
        .saturating_sub(if f.mask.is_some() { 4 } else { 0 });
    let len7: u64 = match base_len {
        4 => 126,
        10 => 127,
        _ => f.payload_len.min(125),
    };
    let b1 = (u64::from(f.mask.is_some()) << 7) | len7;
    let mut kids = vec![
        DetailNode::leaf(format!("{} = Fin: {}", bits(b0, 8, 0, 1), yes(f.fin))),
        DetailNode::leaf(format!("{} = Reserved: {rsv:#x}", bits(b0, 8, 1, 3))),
    ];
    if f.rsv1 && f.deflate {
        kids.push(DetailNode::leaf(format!(
            "{} = Per-Message Compressed: True",
            bits(b0, 8, 1, 1)
        )));
    }
    kids.push(DetailNode::leaf(format!(
        "{} = Opcode: {} ({})",
        bits(b0, 8, 4, 4),
        opcode_title(f.opcode),
        f.opcode.as_u8()
    )));
    kids.push(DetailNode::leaf(format!(
        "{} = Mask: {}",
        bits(b1, 8, 0, 1),
        yes(f.mask.is_some())
    )));
    kids.push(DetailNode::leaf(format!(
        "{} = Payload length: {len7}{}",
        bits(b1, 8, 1, 7),
        match len7 {
            126 => " (16-bit extended length follows)",
            127 => " (64-bit extended length follows)",
            _ => "",
        }
    )));
    match len7 {
        126 => kids.push(DetailNode::leaf(format!(
            "Extended Payload length (16 bits): {}",
            f.payload_len
        ))),
        127 => kids.push(DetailNode::leaf(format!(
            "Extended Payload length (64 bits): {}",
            f.payload_len
        ))),
        _ => {}
    }
    if let Some(m) = f.mask {
        kids.push(DetailNode::leaf(format!(
            "Masking-Key: {:02x}{:02x}{:02x}{:02x}",
            m[0], m[1], m[2], m[3]
        )));
    }
    kids.push(DetailNode::leaf(format!(
        "[Header length: {} bytes, payload {} byte{}]",
        f.header.len(),
        f.payload_len,
        plural(f.payload_len)
    )));
    kids.push(payload_node(f, preview_chars));
    DetailNode::new("WebSocket", kids)
}

fn payload_node(f: &WsFrame<'_>, preview_chars: usize) -> DetailNode {
    let head = f.payload_head;
    let title = if f.mask.is_some() {
        "Payload (unmasked)"
    } else {
        "Payload"
    };
    let mut kids = Vec::new();
    match f.opcode {
        OpCode::Close => {
            match f.close_code {
                Some(c) => kids.push(DetailNode::leaf(format!(
                    "Status code: {c} ({})",
                    close_code_title(c)
                ))),
                None if f.payload_len == 0 => {
                    kids.push(DetailNode::leaf("[No status code]"));
                }
                None => {}
            }
            if let Some(r) = f.close_reason.filter(|r| !r.is_empty()) {
                kids.push(DetailNode::leaf(format!(
                    "Reason: {}",
                    text_of(r, preview_chars)
                )));
            }
        }
        _ if f.payload_len == 0 => {}
        _ if f.rsv1 => kids.push(DetailNode::leaf(format!(
            "Compressed data: {}{}",
            hex_of(head, preview_chars),
            cut_note(head.len(), f.payload_len)
        ))),
        OpCode::Text => kids.push(DetailNode::leaf(format!(
            "Text: {}{}",
            text_of(head, preview_chars),
            preview_cut(head, preview_chars, f.payload_len)
        ))),
        OpCode::Continuation | OpCode::Ping | OpCode::Pong
            if !head.is_empty() && std::str::from_utf8(head).is_ok() =>
        {
            kids.push(DetailNode::leaf(format!(
                "Text: {}{}",
                text_of(head, preview_chars),
                preview_cut(head, preview_chars, f.payload_len)
            )))
        }
        _ => kids.push(DetailNode::leaf(format!(
            "Data: {}{}",
            hex_of(head, preview_chars),
            cut_note(head.len().min(preview_chars / 2), f.payload_len)
        ))),
    }
    DetailNode::new(title, kids)
}

/// Facts about the message a final frame completed.
pub fn message(m: &WsMessage<'_>, preview_chars: usize) -> DetailNode {
    let kind = match m.opcode {
        OpCode::Text => "Text",
        OpCode::Binary => "Binary",
        _ => "Data",
    };
    let mut kids = vec![DetailNode::leaf(format!(
        "[Frames: {}{}]",
        m.frames,
        if m.frames > 1 { " (fragmented)" } else { "" }
    ))];
    if m.compressed {
        kids.push(DetailNode::leaf(format!(
            "[Compressed length: {} bytes (permessage-deflate)]",
            m.wire_len
        )));
        kids.push(DetailNode::leaf(format!(
            "[Inflated length: {} bytes]",
            m.len
        )));
    } else {
        kids.push(DetailNode::leaf(format!("[Length: {} bytes]", m.len)));
    }
    match m.valid_utf8 {
        Some(true) => kids.push(DetailNode::leaf("[UTF-8: valid]")),
        Some(false) => kids.push(DetailNode::leaf("[UTF-8: INVALID]")),
        None if m.opcode == OpCode::Text => {
            kids.push(DetailNode::leaf("[UTF-8: not checked (bytes missing)]"))
        }
        None => {}
    }
    // A single uncompressed frame already showed the payload.
    let worth_showing = m.frames > 1 || m.compressed;
    if worth_showing && m.opcode == OpCode::Text {
        kids.push(DetailNode::leaf(format!(
            "[Text: {}{}]",
            text_of(m.data_head, preview_chars),
            preview_cut(m.data_head, preview_chars, m.len)
        )));
    } else if worth_showing && !m.data_head.is_empty() {
        kids.push(DetailNode::leaf(format!(
            "[Data: {}{}]",
            hex_of(m.data_head, preview_chars),
            cut_note(m.data_head.len().min(preview_chars / 2), m.len)
        )));
    }
    DetailNode::new(
        format!(
            "[{kind} message: {} byte{}{}]",
            m.len,
            plural(m.len),
            if m.compressed { ", inflated" } else { "" }
        ),
        kids,
    )
}

/// One Server-Sent Event.
pub fn sse(e: &SseEvent<'_>, preview_chars: usize) -> DetailNode {
    let mut kids = Vec::new();
    if let Some(n) = e.event {
        kids.push(DetailNode::leaf(format!("event: {}", esc(n))));
    }
    if let Some(id) = e.id {
        kids.push(DetailNode::leaf(format!("id: {}", esc(id))));
    }
    for line in e.data.split(|&b| b == b'\n') {
        kids.push(DetailNode::leaf(format!(
            "data: {}",
            text_of(line, preview_chars)
        )));
    }
    DetailNode::new("Server-Sent Event", kids)
}

/// Renders `nodes` with `indent` before the first level and four spaces per level below it,
/// as tshark -V does. Top-level titles are bold; Expert Info lines take their severity's colour.
pub fn render(out: &mut String, nodes: &[DetailNode], indent: usize, style: Style) {
    fn walk(out: &mut String, nodes: &[DetailNode], depth: usize, style: Style, top: usize) {
        for n in nodes {
            out.extend(std::iter::repeat_n(' ', depth * 4 + top));
            let paint = if n.text.starts_with("[Expert Info (Error") {
                Some(Paint::Error)
            } else if n.text.starts_with("[Expert Info (Warning") {
                Some(Paint::Warning)
            } else if depth == 0 {
                Some(Paint::Bold)
            } else {
                None
            };
            match paint {
                Some(p) => style.push(out, p, &n.text),
                None => out.push_str(&n.text),
            }
            out.push('\n');
            walk(out, &n.children, depth + 1, style, top);
        }
    }
    walk(out, nodes, 0, style, indent);
}

/// The layers `-O` names, and how the top nodes of the tree they own begin (tshark's names
/// where it has the layer; `ws` also `websocket`).
pub const LAYERS: &[(&str, &[&str])] = &[
    ("frame", &["Frame "]),
    (
        "eth",
        &[
            "Ethernet",
            "802.1",
            "Linux cooked",
            "Null/Loopback",
            "Raw packet data",
        ],
    ),
    ("ip", &["Internet Protocol"]),
    ("tcp", &["Transmission Control Protocol"]),
    ("http", &["Hypertext Transfer Protocol"]),
    ("ws", &["WebSocket"]),
    ("sse", &["Server-Sent Event"]),
    ("tls", &["Transport Layer Security", "TLS"]),
];

/// The `-O` name for a layer tshark names otherwise.
fn layer_alias(name: &str) -> &str {
    match name {
        "websocket" => "ws",
        "ipv6" | "ipv4" => "ip",
        "sll" | "link" => "eth",
        n => n,
    }
}

/// Checks the `-O` layer names.
pub fn check_layers(names: &[String]) -> Result<(), String> {
    for n in names {
        let n = layer_alias(n.trim());
        if !LAYERS.iter().any(|(l, _)| *l == n) {
            let all: Vec<&str> = LAYERS.iter().map(|(l, _)| *l).collect();
            return Err(format!(
                "-O {}: no such layer; the layers are {}",
                esc(n),
                all.join(", ")
            ));
        }
    }
    Ok(())
}

/// The layer a top node of the tree belongs to; `None` for nodes of no layer (expert info).
fn node_layer(text: &str) -> Option<&'static str> {
    LAYERS
        .iter()
        .find(|(_, starts)| starts.iter().any(|s| text.starts_with(s)))
        .map(|(l, _)| *l)
}

/// Keeps the top nodes of the layers `-O` names (every node without `-O`); expert info stays.
pub fn only_layers(nodes: &mut Vec<DetailNode>, layers: &[String]) {
    if layers.is_empty() {
        return;
    }
    nodes.retain(|n| {
        node_layer(&n.text).is_none_or(|l| layers.iter().any(|w| layer_alias(w.trim()) == l))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::Dir;
    use crate::time::Timestamp;

    fn text_frame<'a>(header: &'a [u8], payload: &'a [u8], mask: Option<[u8; 4]>) -> WsFrame<'a> {
        WsFrame {
            dir: Dir::C2S,
            ts: Timestamp::ZERO,
            first_frame: 1,
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: OpCode::Text,
            mask,
            payload_len: payload.len() as u64,
            header,
            payload_head: payload,
            close_code: None,
            close_reason: None,
            deflate: false,
        }
    }

    #[test]
    fn frame_bits_read_like_wireshark() {
        let header = [0x81, 0x85, 0xe4, 0x48, 0xb6, 0x52];
        let f = text_frame(&header, b"hello", Some([0xe4, 0x48, 0xb6, 0x52]));
        let out = DetailNode::render(&[frame(&f, 128)]);
        let expected = "WebSocket
  1... .... = Fin: True
  .000 .... = Reserved: 0x0
  .... 0001 = Opcode: Text (1)
  1... .... = Mask: True
  .000 0101 = Payload length: 5
  Masking-Key: e448b652
  [Header length: 6 bytes, payload 5 bytes]
  Payload (unmasked)
    Text: hello
";
        assert_eq!(out, expected);
    }

    #[test]
    fn non_minimal_length_shows_the_encoding_used() {
        // A 5-byte payload sent with the 16-bit length form: 0x81 0xfe 0x00 0x05 + mask.
        let header = [0x81, 0xfe, 0x00, 0x05, 1, 2, 3, 4];
        let f = text_frame(&header, b"hello", Some([1, 2, 3, 4]));
        let out = DetailNode::render(&[frame(&f, 128)]);
        assert!(
            out.contains("  .111 1110 = Payload length: 126 (16-bit extended length follows)\n")
        );
        assert!(out.contains("  Extended Payload length (16 bits): 5\n"));
    }

    #[test]
    fn close_codes_have_names_and_ranges() {
        assert_eq!(close_code_title(1000), "Normal Closure");
        assert_eq!(close_code_title(1011), "Internal Error");
        assert_eq!(close_code_title(3001), "registered (libraries, frameworks)");
        assert_eq!(close_code_title(4999), "private use (applications)");
        assert_eq!(close_code_title(2000), "reserved for the protocol");
    }
}
