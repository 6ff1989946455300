//! Nothing from a capture or the file system reaches the terminal raw.
//!
//! 1. The property, over the printers themselves: whatever bytes a capture puts into any field
//!    that a text view shows (HTTP start line, header names and values, Content-Type, Host,
//!    Upgrade, bodies, the handshake's key, accept, version, subprotocol, extensions and origin,
//!    WebSocket payloads, messages and close reasons, SSE event names, ids and data, anomaly
//!    details, the packet bytes under `-V`, a TLS ClientHello's SNI and ALPN, a flow's TLS facts,
//!    the ciphertext of the TLS record a frame was read from), no view — summary lines, `-V`, `-x`, `-q` tables,
//!    `--kind`, `--follow`, `--ladder`, colour on and off — writes a control character (other
//!    than its own line ends and tabs), a C1 control, a bidi or other invisible format character,
//!    or invalid UTF-8. With colour on, ESC appears only in SGR sequences, and removing them
//!    gives exactly the uncoloured output, so every one of them is the printer's own.
//! 2. End to end through the binary: a crafted capture with the issue's triggers (an SSE
//!    `event:` / `id:` that would set the window title and clear the screen, C1 and bidi controls
//!    in Content-Type, a header, the subprotocol, a close reason, a text message, SSE data and a
//!    handshake detail) in every text view and in JSON (exact values, terminal-safe bytes); `check`
//!    and error lines naming files whose names hold ESC/OSC sequences.
//!
//! The capture is crafted (tests/common's builders) because only a hostile peer sends such bytes.

mod common;

use common::{
    BIN, C2S, LINKTYPE_ETHERNET, PcapWriter, S2C, TcpConn, WS_KEY, upgrade_response,
    websocket_accept, ws_frame,
};
use proptest::prelude::*;
use serde_json::Value;
use sockscope::decode::DetailNode;
use sockscope::decode::TcpFlags;
use sockscope::model::{
    Anomaly, Code, DeflateParams, Digest, Event, EventCtx, FlowKind, FlowSummary, Handshake,
    Header, HttpHead, HttpMessage, LatencyRecord, Layer, OpCode, Record, RecordLayer, SseEvent,
    SubChoice, SubMeaning, SubReply, SubUnit, TlsRecord, TlsSummary, TlsWhat, WsFrame, WsMessage,
};
use sockscope::report::follow::FollowPrinter;
use sockscope::report::ladder::LadderPrinter;
use sockscope::report::tables::TableStyle;
use sockscope::report::text::{TextOptions, TextPrinter};
use sockscope::report::{PacketDone, Reporter, escape};
use sockscope::source::{Frame, LinkType};
use sockscope::stats::RunStats;
use sockscope::tcp::{CloseHow, Dir, FlowMeta, PacketRef, Placed, RoleBasis};
use sockscope::time::Timestamp;
use std::cell::Cell;
use std::cell::RefCell;
use std::ffi::OsStr;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

/// Characters no output may hold raw (line ends and tabs are the printer's own), defined here
/// independently of `escape::is_safe`.
fn forbidden(c: char) -> bool {
    let u = c as u32;
    (u < 0x20 && c != '\t' && c != '\n')
        || u == 0x7f
        || (0x80..=0x9f).contains(&u)
        || matches!(
            u,
            0x061c
                | 0x200b..=0x200f
                | 0x2028..=0x202e
                | 0x2060..=0x2064
                | 0x2066..=0x2069
                | 0xfeff
        )
        || unicode_general_category::get_general_category(c)
            == unicode_general_category::GeneralCategory::Format
}

/// `s` without its SGR colour sequences; any other use of ESC is an error.
fn strip_sgr(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\x1b') {
        out.push_str(&rest[..i]);
        let body = rest[i + 1..]
            .strip_prefix('[')
            .ok_or_else(|| format!("ESC not starting a CSI: {:?}", &rest[i..]))?;
        let end = body
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .ok_or("unterminated CSI")?;
        if !body[end..].starts_with('m') {
            return Err(format!("CSI that is not SGR: {:?}", &rest[i..]));
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Asserts that `bytes` are safe to print; returns them as text.
fn clean(bytes: &[u8], what: &str) -> String {
    let text = String::from_utf8(bytes.to_vec())
        .unwrap_or_else(|e| panic!("{what}: not UTF-8 ({e}): {bytes:?}"));
    let plain = strip_sgr(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
    if let Some(c) = plain.chars().find(|&c| forbidden(c)) {
        panic!("{what}: raw U+{:04X} in:\n{plain}", c as u32);
    }
    plain
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary; both streams must be clean.
fn run<S: AsRef<OsStr>>(args: &[S]) -> Out {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run sockscope");
    let what = args
        .iter()
        .map(|a| String::from_utf8_lossy(a.as_ref().as_bytes()).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let stdout = clean(&out.stdout, &format!("stdout of {what}"));
    let stderr = clean(&out.stderr, &format!("stderr of {what}"));
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

const SUBPROTOCOL: &str = "chat\u{202e}\u{9b}2J";
const EVIL_HEADER: &str = "a\u{9b}31m\u{2066}b\u{200b}";
const MEDIA: &str = "text/html\u{9b}2J\u{202e}";
const CLOSE_REASON: &str = "bye\u{9b}\u{202e}";
const TEXT: &str = "hi \u{9b}2J \u{202e}olleh\u{feff}";
const CONNECTION: &str = "keep-alive\u{9b}\u{202e}";
/// The issue's SSE trigger, then an event whose data holds bidi controls.
const SSE_BODY: &[u8] =
    b"event: \x1b]0;X\x07\nid: \x1b[2J\ndata: y\n\nevent: next\ndata: \xe2\x80\xaez\xc2\x9b\n\n";

fn upgrade_request(extra: &str, connection: &str) -> Vec<u8> {
    format!(
        "GET /chat HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: {connection}\r\n\
         Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// Four flows: a WebSocket conversation with hostile subprotocol, header, text and close reason;
/// an upgrade whose Connection header makes the handshake invalid (its value in the detail);
/// an HTTP response with a hostile Content-Type; the SSE trigger.
fn hostile_capture() -> Vec<u8> {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);

    let mut ws = TcpConn::new(([10, 0, 0, 1], 40001), ([10, 0, 0, 2], 80));
    ws.handshake(&mut w);
    let extra = format!("Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\nX-Evil: {EVIL_HEADER}\r\n");
    ws.send(&mut w, C2S, &upgrade_request(&extra, "Upgrade"));
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\nX-Evil: {EVIL_HEADER}\r\n\r\n",
        websocket_accept(WS_KEY)
    );
    ws.send(&mut w, S2C, response.as_bytes());
    ws.send(
        &mut w,
        C2S,
        &ws_frame(true, false, 1, true, TEXT.as_bytes()),
    );
    ws.send(
        &mut w,
        S2C,
        &ws_frame(true, false, 1, false, TEXT.as_bytes()),
    );
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(CLOSE_REASON.as_bytes());
    ws.send(&mut w, S2C, &ws_frame(true, false, 8, false, &close));
    ws.send(&mut w, C2S, &ws_frame(true, false, 8, true, &close));
    ws.fin(&mut w);

    let mut bad = TcpConn::new(([10, 0, 0, 1], 40002), ([10, 0, 0, 2], 80));
    bad.handshake(&mut w);
    bad.send(&mut w, C2S, &upgrade_request("", CONNECTION));
    bad.send(&mut w, S2C, &upgrade_response(None));
    bad.fin(&mut w);

    let mut page = TcpConn::new(([10, 0, 0, 1], 40003), ([10, 0, 0, 2], 80));
    page.handshake(&mut w);
    page.send(&mut w, C2S, b"GET / HTTP/1.1\r\nHost: example\r\n\r\n");
    let body = "<p>\u{202e}</p>";
    let ok = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {MEDIA}\r\nX-Evil: {EVIL_HEADER}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    page.send(&mut w, S2C, ok.as_bytes());
    page.fin(&mut w);

    let mut sse = TcpConn::new(([10, 0, 0, 1], 40004), ([10, 0, 0, 2], 80));
    sse.handshake(&mut w);
    sse.send(
        &mut w,
        C2S,
        b"GET /events HTTP/1.1\r\nHost: example\r\n\r\n",
    );
    let mut stream = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n".to_vec();
    stream.extend_from_slice(SSE_BODY);
    sse.send(&mut w, S2C, &stream);
    sse.fin(&mut w);

    w.bytes().to_vec()
}

fn write_capture(dir: &Path, name: &[u8]) -> PathBuf {
    let path = dir.join(OsStr::from_bytes(name));
    std::fs::write(&path, hostile_capture()).expect("write capture");
    path
}

/// The escaped form of `s` the text views show.
fn escaped(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\x1b' => out.push_str("\\x1b"),
            '\x07' => out.push_str("\\x07"),
            c if forbidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[test]
fn every_text_view_escapes_what_the_capture_holds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write_capture(dir.path(), b"hostile.pcap");
    let file = file.to_str().expect("UTF-8 path");

    // JSON first: the analysis saw the bytes as sent, and keeps them exact.
    let json = run(&["read", "--json", file]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let records: Vec<Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let of = |t: &'static str| records.iter().filter(move |r| r["type"] == t);
    assert!(
        of("handshake").any(|h| h["subprotocol"] == SUBPROTOCOL),
        "{}",
        json.stdout
    );
    assert!(of("ws_frame").any(|f| f["close_reason"] == CLOSE_REASON));
    assert!(of("http").any(|h| {
        h["headers"]
            .as_array()
            .is_some_and(|hs| hs.iter().any(|kv| kv[1] == MEDIA))
    }));
    assert!(of("anomaly").any(|a| a["code"] == "ws.handshake_invalid"
        && a["detail"].as_str().is_some_and(|d| d.contains(CONNECTION))));
    assert!(of("flow").any(|f| f["kind"] == "sse"));
    let sse_flow = of("flow")
        .find(|f| f["kind"] == "sse")
        .and_then(|f| f["id"].as_u64())
        .expect("an SSE flow");

    let views: &[&[&str]] = &[
        &["read"],
        &["read", "-V"],
        &["read", "-x"],
        &["read", "-V", "-x"],
        &["read", "-q"],
        &["read", "--kind", "sse", "-V"],
        &["read", "--follow", "1"],
        &["read", "--ladder", "1"],
        &["read", "--follow", "2"],
        &["read", "--ladder", "2"],
        &["read", "--follow", "3"],
    ];
    let mut all = String::new();
    for view in views {
        let mut plain = None;
        for color in ["never", "always"] {
            let mut args: Vec<&str> = view.to_vec();
            args.extend(["--color", color, file]);
            let out = run(&args);
            assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
            match &plain {
                None => plain = Some(out.stdout.clone()),
                Some(p) => assert_eq!(&out.stdout, p, "{args:?}: colour adds only SGR"),
            }
            all.push_str(&out.stdout);
        }
    }
    let sse_views = [
        format!("--follow {sse_flow}"),
        format!("--ladder {sse_flow}"),
    ];
    for view in &sse_views {
        let mut args: Vec<&str> = vec!["read"];
        args.extend(view.split(' '));
        args.extend(["--color", "always", file]);
        let out = run(&args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        all.push_str(&out.stdout);
    }

    // What the issue names, shown escaped.
    for shown in [
        "\\x1b]0;X\\x07".to_string(),
        "\\x1b[2J".to_string(),
        escaped(SUBPROTOCOL),
        escaped(EVIL_HEADER),
        escaped(MEDIA),
        escaped(CLOSE_REASON),
        escaped(TEXT),
        escaped(CONNECTION),
        "\\u{202e}z\\u{9b}".to_string(),
    ] {
        assert!(all.contains(&shown), "`{shown}` is not shown:\n{all}");
    }
}

const SNI: &[u8] = b"evil\x1b]0;X\x07.example\xc2\x9b2J";
const ALPN: &[u8] = b"h\xe2\x80\xae2\x1b[2J";

/// A TLS 1.2 session (known keys) whose ClientHello's SNI and ALPN hold terminal controls,
/// then a request in the protected session; returns the capture and its key log.
fn hostile_tls_capture() -> (Vec<u8>, String) {
    use sockscope::proto::tls::testkit::Synth;
    let synth = Synth::new(0xc02f, false, 11).expect("a decryptable suite");
    let ext = |t: u16, data: &[u8]| {
        let mut e = t.to_be_bytes().to_vec();
        e.extend_from_slice(&(data.len() as u16).to_be_bytes());
        e.extend_from_slice(data);
        e
    };
    let mut name = vec![0];
    name.extend_from_slice(&(SNI.len() as u16).to_be_bytes());
    name.extend_from_slice(SNI);
    let mut names = (name.len() as u16).to_be_bytes().to_vec();
    names.extend(name);
    let mut protos = vec![ALPN.len() as u8];
    protos.extend_from_slice(ALPN);
    protos.extend_from_slice(b"\x08http/1.1");
    let mut alpn = (protos.len() as u16).to_be_bytes().to_vec();
    alpn.extend(protos);
    let mut exts = ext(0, &names);
    exts.extend(ext(16, &alpn));
    let mut body = vec![3, 3];
    body.extend_from_slice(&synth.client_random);
    body.extend_from_slice(&[0, 0, 2, 0xc0, 0x2f, 1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend(exts);
    let mut hello = vec![1];
    hello.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hello.extend(body);
    let mut record = vec![22, 3, 1];
    record.extend_from_slice(&(hello.len() as u16).to_be_bytes());
    record.extend(hello);
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    let mut c = TcpConn::new(CLIENT, ([10, 0, 0, 2], 443));
    c.handshake(&mut w);
    let mut steps = synth.handshake();
    steps[0].1 = record;
    for (dir, bytes) in steps {
        c.send(&mut w, dir.index(), &bytes);
    }
    let mut request = Vec::new();
    synth.app_record(
        Dir::C2S,
        1,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &mut request,
    );
    c.send(&mut w, C2S, &request);
    c.fin(&mut w);
    (w.bytes().to_vec(), synth.keylog())
}

/// Through the binary: a ClientHello's SNI and ALPN with terminal controls, in every text view,
/// with and without the key log; JSON keeps them exact.
#[test]
fn tls_names_from_the_capture_are_escaped_in_every_view() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (pcap, keys) = hostile_tls_capture();
    let file = dir.path().join("tls.pcap");
    std::fs::write(&file, pcap).expect("write capture");
    let keylog = dir.path().join("tls.keys");
    std::fs::write(&keylog, keys).expect("write key log");
    let (file, keylog) = (
        file.to_str().expect("UTF-8 path"),
        keylog.to_str().expect("UTF-8 path"),
    );
    let sni = String::from_utf8_lossy(SNI).into_owned();
    let json = run(&["read", "--json", "--keylog", keylog, file]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    assert!(
        json.stdout.lines().any(|l| {
            let r: Value = serde_json::from_str(l).expect("JSON");
            r["type"] == "tls" && r["sni"] == sni.as_str()
        }),
        "{}",
        json.stdout
    );
    let mut all = String::new();
    for view in [
        &["read"][..],
        &["read", "-V"],
        &["read", "-x"],
        &["read", "-V", "-x"],
        &["read", "-q"],
        &["read", "--follow", "1"],
        &["read", "--ladder", "1"],
    ] {
        for keys in [true, false] {
            for color in ["never", "always"] {
                let mut args: Vec<&str> = view.to_vec();
                if keys {
                    args.extend(["--keylog", keylog]);
                }
                args.extend(["--color", color, file]);
                let out = run(&args);
                assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
                all.push_str(&out.stdout);
            }
        }
    }
    for shown in [escaped(&sni), escaped(&String::from_utf8_lossy(ALPN))] {
        assert!(all.contains(&shown), "`{shown}` is not shown:\n{all}");
    }
}

#[test]
fn file_names_are_escaped_by_check_and_in_error_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let name = b"evil\x1b]0;pwned\x07\x1b[2J\xe2\x80\xae.pcap";
    write_capture(dir.path(), name);
    let out = run(&[OsStr::new("check"), dir.path().as_os_str()]);
    // The capture has error anomalies (the invalid handshake): FAIL, status 1.
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.starts_with("FAIL ")
            && out
                .stdout
                .contains("evil\\x1b]0;pwned\\x07\\x1b[2J\\u{202e}.pcap: errors: "),
        "{}",
        out.stdout
    );
    // JSON names the file exactly.
    let json = run(&[
        OsStr::new("check"),
        OsStr::new("--json"),
        dir.path().as_os_str(),
    ]);
    let first: Value =
        serde_json::from_str(json.stdout.lines().next().expect("a line")).expect("JSON");
    assert!(
        first["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("evil\x1b]0;pwned\x07\x1b[2J\u{202e}.pcap")),
        "{first}"
    );

    // Unreadable files and missing paths: one escaped line on stderr.
    let bad = dir.path().join(OsStr::from_bytes(b"x\x1b]0;t\x07.pcap"));
    std::fs::write(&bad, b"not a capture").expect("write");
    let out = run(&[OsStr::new("read"), bad.as_os_str()]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("x\\x1b]0;t\\x07.pcap"),
        "{}",
        out.stderr
    );
    let missing = dir.path().join(OsStr::from_bytes(b"gone\x1b[2J\xff.pcap"));
    let out = run(&[OsStr::new("check"), missing.as_os_str()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("gone\\x1b[2J\\xff.pcap"),
        "{}",
        out.stderr
    );
    let out = run(&[
        OsStr::new("read"),
        OsStr::new("--kind"),
        OsStr::new("\x1b[2J"),
    ]);
    assert_eq!(out.code, 2);
}

// ---------------------------------------------------------------------------------------------
// 1. The property over the printers

/// Pieces an attacker would use, plus noise.
const NASTY: &[&str] = &[
    "\x1b]0;pwned\x07",
    "\x1b[2J",
    "\x1b[0m",
    "\x1b[31m",
    "\x1b[1;31m",
    "\u{9b}2J",
    "\u{85}",
    "\u{202e}",
    "\u{2066}",
    "\u{061c}",
    "\u{200b}",
    "\u{200e}",
    "\u{feff}",
    "\u{2028}",
    "\u{e0041}",
    "\r",
    "\n",
    "\t",
    "\x7f",
    "\x00",
    "\\x1b",
    "text/event-stream",
    "caf\u{e9}",
];

fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => proptest::sample::select(NASTY).prop_map(|s| s.as_bytes().to_vec()),
        2 => proptest::collection::vec(any::<u8>(), 0..6),
        1 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
        1 => "[a-z ]{0,6}".prop_map(String::into_bytes),
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|v| v.concat())
}

/// Every attacker-controlled field, as bytes (fields typed `&str` take them lossily).
#[derive(Clone, Debug)]
struct Hostile(Vec<Vec<u8>>);

const FIELDS: usize = 29;

impl Hostile {
    fn bytes(&self, i: usize) -> &[u8] {
        &self.0[i]
    }
    fn text(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.0[i]).into_owned()
    }
}

fn hostile() -> impl Strategy<Value = Hostile> {
    proptest::collection::vec(hostile_bytes(), FIELDS).prop_map(Hostile)
}

/// Output shared between a printer and the test.
#[derive(Clone, Default)]
struct Sink(Rc<RefCell<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 1], 5000);
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 2], 80);

/// A decoded unit whose every string came from the capture.
#[derive(Clone, Debug)]
struct Meaning {
    event: String,
    values: [String; 2],
}

impl SubMeaning for Meaning {
    fn display(&self) -> &'static str {
        "Socket.IO"
    }
    fn object(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("protocol".into(), "socket.io".into());
        m.insert("event".into(), self.event.clone().into());
        m
    }
    fn summary(&self, _width: usize) -> String {
        format!("Socket.IO EVENT {}", self.event)
    }
    fn details(&self) -> DetailNode {
        DetailNode::new(
            self.summary(40),
            self.values.iter().map(DetailNode::leaf).collect(),
        )
    }
    fn clone_box(&self) -> Box<dyn SubMeaning> {
        Box::new(self.clone())
    }
}

fn ts(n: u64) -> Timestamp {
    Timestamp::from_secs_nanos(1_700_000_000 + n as i64, 0)
}

fn mk_frame(dir: Dir, opcode: OpCode, fin: bool, payload: &[u8], rsv1: bool) -> WsFrame<'_> {
    WsFrame {
        dir,
        ts: ts(4),
        first_frame: 4,
        fin,
        rsv1,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: (dir == Dir::C2S).then_some([1, 2, 3, 4]),
        payload_len: payload.len() as u64 + 3,
        header: &[0x81, 0x85, 1, 2, 3, 4],
        payload_head: payload,
        close_code: None,
        close_reason: None,
        // The handshake `feed` sends first negotiates permessage-deflate.
        deflate: true,
    }
}

/// Feeds one flow made of `h`'s fields to `p`: every event kind, every anomaly path, then the
/// end of the run.
fn feed(p: &mut dyn Reporter, h: &Hostile) {
    let (client, server) = (SocketAddr::from(CLIENT), SocketAddr::from(SERVER));
    let meta = FlowMeta::new(1, client, server, RoleBasis::Syn, ts(0));
    let (method, target, reason) = (h.text(0), h.text(1), h.text(2));
    let header_name = h.text(3);
    let upgrade = h.text(7);
    let (sse_event, sse_id) = (h.text(17), h.text(18));
    let detail = h.text(20);
    let mut sse_type = b"text/event-stream".to_vec();
    sse_type.extend_from_slice(h.bytes(5));
    let request_headers = [
        Header {
            name: &header_name,
            value: h.bytes(4),
        },
        Header {
            name: "Host",
            value: h.bytes(6),
        },
        Header {
            name: "Content-Type",
            value: h.bytes(5),
        },
        Header {
            name: "Upgrade",
            value: upgrade.as_bytes(),
        },
    ];
    let sse_headers = [Header {
        name: "Content-Type",
        value: &sse_type,
    }];
    // Never taken for an event stream, so that the 101 and the 200 stay what they are.
    let mut media = b"x".to_vec();
    media.extend_from_slice(h.bytes(5));
    let response_headers = [
        Header {
            name: &header_name,
            value: h.bytes(4),
        },
        Header {
            name: "Content-Type",
            value: &media,
        },
        Header {
            name: "Upgrade",
            value: upgrade.as_bytes(),
        },
    ];
    let request = HttpMessage {
        dir: Dir::C2S,
        start_ts: ts(1),
        ts: ts(1),
        head: HttpHead::Request {
            method: &method,
            target: &target,
            version: 1,
        },
        headers: &request_headers,
        header_bytes: 100,
        body_bytes: h.bytes(8).len() as u64 + 1,
        framing_bytes: 0,
        chunked: false,
        upgrade: Some(&upgrade),
        body_head: h.bytes(8),
        raw_head: h.bytes(9),
        complete: true,
        digest: Digest::Off,
        exchange: Some(0),
    };
    let switching = HttpMessage {
        dir: Dir::S2C,
        head: HttpHead::Response {
            version: 1,
            status: 101,
            reason: &reason,
        },
        headers: &response_headers,
        body_bytes: 0,
        body_head: b"",
        start_ts: ts(2),
        ts: ts(2),
        ..request
    };
    let handshake = Handshake {
        ts: ts(2),
        key: Some(h.text(10)),
        accept: Some(h.text(11)),
        expected_accept: Some(h.text(11) + "x"),
        accept_valid: h.bytes(11).len().is_multiple_of(2),
        version: Some(h.text(12)),
        subprotocol: Some(h.text(13)),
        extensions: vec![h.text(14), h.text(21)],
        deflate: Some(DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }),
        origin: Some(h.text(15)),
        request_bytes: 100,
        response_bytes: 100,
    };
    let ok = HttpMessage {
        dir: Dir::S2C,
        head: HttpHead::Response {
            version: 1,
            status: 200,
            reason: &reason,
        },
        headers: &response_headers,
        start_ts: ts(3),
        ts: ts(3),
        ..request
    };
    let stream = HttpMessage {
        headers: &sse_headers,
        body_bytes: 0,
        body_head: b"",
        complete: false,
        ..ok
    };
    let text_frame = mk_frame(Dir::C2S, OpCode::Text, true, h.bytes(16), false);
    let compressed_frame = mk_frame(Dir::S2C, OpCode::Text, true, h.bytes(16), true);
    let first_fragment = mk_frame(Dir::C2S, OpCode::Binary, false, h.bytes(22), false);
    let last_fragment = mk_frame(Dir::C2S, OpCode::Continuation, true, h.bytes(23), false);
    let ping = mk_frame(Dir::C2S, OpCode::Ping, true, h.bytes(24), false);
    let pong = mk_frame(Dir::S2C, OpCode::Pong, true, h.bytes(24), false);
    let reserved = mk_frame(Dir::S2C, OpCode::Reserved(3), true, h.bytes(25), false);
    let close = |dir| WsFrame {
        close_code: Some(1000),
        close_reason: Some(h.bytes(19)),
        ..mk_frame(dir, OpCode::Close, true, h.bytes(19), false)
    };
    let (close_c, close_s) = (close(Dir::C2S), close(Dir::S2C));
    // What a sub-protocol decoder says of a message quotes the capture: the event name, a
    // topic, JSON values, the reason for the choice.
    let units = [SubUnit {
        meaning: Box::new(Meaning {
            event: h.text(13),
            values: [h.text(14), h.text(21)],
        }),
        reply_to: Some(SubReply {
            request_frame: 3,
            latency: 0.004,
            name: h.text(15),
            error: false,
        }),
    }];
    let choice = SubChoice {
        protocol: Some("socket.io"),
        basis: Some("url"),
        reason: h.text(10).into(),
        engineio: Some(4),
    };
    let latency = LatencyRecord {
        record_type: "latency",
        flow: 1,
        protocol: "socket.io",
        name: Some(h.text(15)),
        dir: Some("c2s"),
        count: 1,
        errors: 0,
        unanswered: 0,
        p50: Some(0.004),
        p90: Some(0.004),
        p99: Some(0.004),
        max: Some(0.004),
        unmatched_replies: None,
        evicted: None,
    };
    let text_message = WsMessage {
        dir: Dir::S2C,
        ts: ts(4),
        opcode: OpCode::Text,
        frames: 2,
        wire_len: 10,
        len: h.bytes(16).len() as u64 + 3,
        compressed: true,
        valid_utf8: Some(std::str::from_utf8(h.bytes(16)).is_ok()),
        data_head: h.bytes(16),
        digest: Digest::Off,
        sub: &units,
        sub_choice: Some(&choice),
    };
    let binary_message = WsMessage {
        dir: Dir::C2S,
        opcode: OpCode::Binary,
        valid_utf8: None,
        data_head: h.bytes(22),
        ..text_message
    };
    let sse = SseEvent {
        ts: ts(5),
        event: Some(&sse_event),
        id: Some(&sse_id),
        data: h.bytes(19),
        len: 19,
    };
    let anomaly = |code: Code, dir: Option<Dir>| Anomaly {
        code,
        dir,
        ts: ts(4),
        detail: detail.clone(),
    };
    let summary = FlowSummary {
        kind: Some(FlowKind::WebSocket),
        http_messages: 2,
        ws_frames: 9,
        ws_messages: 2,
        sse_events: 1,
        anomalies: 6,
        handshake_complete: true,
        upgrade_request_bytes: 100,
        upgrade_response_bytes: 100,
        l7_header_bytes: [150, 150],
        l7_payload_bytes: [40, 40],
        messages: [2, 2],
        // The flow's TLS facts, SNI and ALPN from the capture.
        tls: Some(Box::new(TlsSummary {
            version: Some("TLS 1.3"),
            cipher_suite: Some("TLS_AES_128_GCM_SHA256"),
            sni: Some(h.text(26)),
            alpn: Some(h.text(27)),
            alpn_offered: vec![h.text(27), "http/1.1".into()],
            decrypted: true,
            records: [3, 3],
            records_decrypted: [2, 2],
            record_header_bytes: [15, 15],
            protection_bytes: [34, 34],
            handshake_bytes: [300, 3000],
            plaintext_bytes: [40, 40],
            ..TlsSummary::default()
        })),
        ..FlowSummary::default()
    };
    // TLS: a ClientHello whose SNI and ALPN came from the capture, the ServerHello's ALPN, an
    // alert; then a frame read from TLS plaintext, under its record (ciphertext from the
    // capture, for -x).
    let sni = h.text(26);
    let alpn = h.text(27);
    let client_hello = TlsRecord {
        version: Some("TLS 1.3"),
        suites_offered: Some(3),
        sni: Some(&sni),
        alpn: vec![&alpn, "http/1.1"],
        len: 200,
        ..TlsRecord::new(
            Dir::C2S,
            ts(1),
            TlsWhat::Handshake { msg_type: 1 },
            "ClientHello",
        )
    };
    let server_hello = TlsRecord {
        version: Some("TLS 1.3"),
        cipher_suite: Some(0x1301),
        cipher_suite_name: Some("TLS_AES_128_GCM_SHA256"),
        alpn: vec![&alpn],
        resumed: Some(false),
        ..TlsRecord::new(
            Dir::S2C,
            ts(1),
            TlsWhat::Handshake { msg_type: 2 },
            "ServerHello",
        )
    };
    let alert = TlsRecord {
        encrypted: true,
        ..TlsRecord::new(
            Dir::S2C,
            ts(6),
            TlsWhat::Alert {
                level: 2,
                description: 40,
            },
            "handshake_failure",
        )
    };
    let record_layer = RecordLayer {
        content_type: 23,
        version: 0x0303,
        len: 40,
        seq: Some(3),
        ciphertext: h.bytes(28),
    };
    let tls_layer = Layer {
        name: "TLS 1.3",
        outer: None,
        record: Some(&record_layer),
    };
    let in_tls = mk_frame(Dir::S2C, OpCode::Text, true, h.bytes(27), false);
    let via: Cell<Option<&Layer<'_>>> = Cell::new(None);

    let packet = h.bytes(20);
    let mut n = 0u64;
    let mut send = |p: &mut dyn Reporter, dir: Dir, flags: u16, events: &[Event<'_>]| {
        n += 1;
        let mut ctx = EventCtx::new(&meta, Some(PacketRef::new(n, ts(n)).sent_by(dir)));
        ctx.layer = via.get();
        for e in events {
            p.event(&ctx, *e);
        }
        let flags = TcpFlags(flags);
        if flags.syn() || flags.fin() || flags.rst() {
            p.event(&ctx, Event::Control { dir, flags });
        }
        let frame = Frame {
            index: n,
            ts: ts(n),
            link_type: LinkType::ETHERNET,
            interface: 0,
            orig_len: packet.len() as u32,
            data: packet,
        };
        let placed = Placed {
            flow: meta.id,
            dir,
            flags,
            seq: 1,
            ack: 1,
            payload_len: packet.len(),
        };
        p.packet_done(&PacketDone::new(&frame, Some(placed)));
    };
    const SYN: u16 = TcpFlags::SYN;
    const ACK: u16 = TcpFlags::ACK;
    let handshake_invalid = anomaly(Code::WsHandshakeInvalid, Some(Dir::C2S));
    let mismatch = anomaly(Code::WsAcceptMismatch, Some(Dir::S2C));
    let utf8 = anomaly(Code::WsInvalidUtf8, Some(Dir::S2C));
    let reserved_opcode = anomaly(Code::WsReservedOpcode, Some(Dir::S2C));
    let gap = anomaly(Code::TcpGap, None);
    let parse = anomaly(Code::HttpParseError, Some(Dir::C2S));
    let global = anomaly(Code::IpFragment, None);

    send(p, Dir::C2S, SYN, &[Event::FlowOpened]);
    send(
        p,
        Dir::C2S,
        ACK,
        &[Event::Record(Record::Tls(&client_hello))],
    );
    send(
        p,
        Dir::S2C,
        ACK,
        &[Event::Record(Record::Tls(&server_hello))],
    );
    send(
        p,
        Dir::C2S,
        ACK,
        &[
            Event::HttpHead(&request),
            Event::Record(Record::Http(&request)),
            Event::Record(Record::Anomaly(&handshake_invalid)),
        ],
    );
    send(
        p,
        Dir::S2C,
        ACK,
        &[
            Event::HttpHead(&switching),
            Event::Record(Record::Http(&switching)),
            Event::Record(Record::Handshake(&handshake)),
            Event::Record(Record::Anomaly(&mismatch)),
        ],
    );
    send(
        p,
        Dir::C2S,
        ACK,
        &[
            Event::Record(Record::WsFrame(&text_frame)),
            Event::Record(Record::WsFrame(&first_fragment)),
            Event::Record(Record::WsFrame(&last_fragment)),
            Event::Record(Record::WsMessage(&binary_message)),
            Event::Record(Record::WsFrame(&ping)),
        ],
    );
    send(
        p,
        Dir::S2C,
        ACK,
        &[
            Event::Record(Record::WsFrame(&compressed_frame)),
            Event::Record(Record::Anomaly(&utf8)),
            Event::Record(Record::WsMessage(&text_message)),
            Event::Record(Record::WsFrame(&pong)),
            Event::Record(Record::Anomaly(&reserved_opcode)),
            Event::Record(Record::WsFrame(&reserved)),
        ],
    );
    send(
        p,
        Dir::S2C,
        ACK,
        &[
            Event::HttpHead(&ok),
            Event::Record(Record::Http(&ok)),
            Event::HttpHead(&stream),
            Event::Record(Record::Sse(&sse)),
            Event::Record(Record::Http(&stream)),
        ],
    );
    via.set(Some(&tls_layer));
    send(
        p,
        Dir::S2C,
        ACK,
        &[
            Event::Record(Record::WsFrame(&in_tls)),
            Event::Record(Record::Anomaly(&utf8)),
        ],
    );
    via.set(None);
    send(p, Dir::S2C, ACK, &[Event::Record(Record::Tls(&alert))]);
    send(p, Dir::C2S, ACK, &[Event::Record(Record::Anomaly(&gap))]);
    send(p, Dir::C2S, ACK, &[Event::Record(Record::Anomaly(&parse))]);
    p.global_anomaly(&global, 9);
    send(
        p,
        Dir::C2S,
        TcpFlags::FIN | ACK,
        &[
            Event::Record(Record::WsFrame(&close_c)),
            Event::Record(Record::WsFrame(&close_s)),
        ],
    );
    let ctx = EventCtx::new(&meta, None);
    p.event(&ctx, Event::Record(Record::Latency(&latency)));
    p.event(
        &ctx,
        Event::FlowClosed {
            how: CloseHow::Fin,
            summary: &summary,
        },
    );
    let mut stats = RunStats::default();
    for a in [
        &handshake_invalid,
        &mismatch,
        &utf8,
        &reserved_opcode,
        &gap,
        &parse,
        &global,
    ] {
        stats.on_anomaly(a.code);
    }
    stats.on_packet(ts(1));
    stats.on_flow_closed(&meta, &summary);
    p.finish(&stats).expect("finish");
}

/// The views, each as (name, printer writing to the sink).
fn views(color: bool, sink: &Sink) -> Vec<(&'static str, Box<dyn Reporter>)> {
    let text = |verbose, hex, quiet, kind| TextOptions {
        quiet,
        kind,
        color,
        verbose,
        hex,
        tables: TableStyle {
            unicode: true,
            width: None,
            color,
        },
        ..TextOptions::default()
    };
    vec![
        (
            "summary lines",
            Box::new(TextPrinter::new(
                sink.clone(),
                text(false, false, false, None),
            )),
        ),
        (
            "-V -x",
            Box::new(TextPrinter::new(
                sink.clone(),
                text(true, true, false, None),
            )),
        ),
        (
            "-q",
            Box::new(TextPrinter::new(
                sink.clone(),
                text(false, false, true, None),
            )),
        ),
        (
            "--kind websocket -V",
            Box::new(TextPrinter::new(
                sink.clone(),
                text(true, false, false, Some(FlowKind::WebSocket)),
            )),
        ),
        (
            "--follow 1",
            Box::new(FollowPrinter::new(sink.clone(), 1, color, 128)),
        ),
        (
            "--ladder 1",
            Box::new(LadderPrinter::new(sink.clone(), 1, color, 128)),
        ),
        (
            "--follow 1 --snap-preview 3",
            Box::new(FollowPrinter::new(sink.clone(), 1, color, 3)),
        ),
    ]
}

/// Renders every view of `h` with colour off and on, checking each.
fn check_all_views(h: &Hostile) -> Result<Vec<(&'static str, String)>, TestCaseError> {
    let mut plain_outputs = Vec::new();
    for color in [false, true] {
        let sink = Sink::default();
        for (i, (name, mut view)) in views(color, &sink).into_iter().enumerate() {
            sink.0.borrow_mut().clear();
            feed(view.as_mut(), h);
            let bytes = sink.0.borrow().clone();
            let out = String::from_utf8(bytes)
                .map_err(|e| TestCaseError::fail(format!("{name}: not UTF-8: {e}")))?;
            let plain = if color {
                strip_sgr(&out).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?
            } else {
                prop_assert!(!out.contains('\x1b'), "{name}: ESC without colour:\n{out}");
                out.clone()
            };
            if let Some(c) = plain.chars().find(|&c| forbidden(c)) {
                return Err(TestCaseError::fail(format!(
                    "{name} (colour {color}): raw U+{:04X} in\n{plain}",
                    c as u32
                )));
            }
            if color {
                let (_, uncoloured) = &plain_outputs[i];
                prop_assert_eq!(
                    &plain,
                    uncoloured,
                    "{}: colour adds more than SGR sequences",
                    name
                );
            } else {
                plain_outputs.push((name, plain));
            }
        }
    }
    Ok(plain_outputs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn no_text_view_writes_a_raw_control_or_format_character(h in hostile()) {
        let outputs = check_all_views(&h)?;
        // Not vacuous: the fields are shown, escaped.
        let view = |name: &str| {
            outputs.iter().find(|(n, _)| *n == name).map(|(_, o)| o.as_str()).unwrap_or_default()
        };
        let verbose = view("-V -x");
        for i in [3, 10, 12, 13, 15, 17, 18, 26, 27] {
            let shown = escape::escape(&h.text(i)).into_owned();
            prop_assert!(verbose.contains(&shown), "field {i} {shown:?} not in -V:\n{verbose}");
        }
        let follow = view("--follow 1");
        prop_assert!(follow.contains(&escape::escape(&h.text(3)).into_owned()));
        // The ClientHello's SNI in the summary lines and the handshake --follow shows.
        let sni = escape::escape(&h.text(26)).into_owned();
        prop_assert!(view("summary lines").contains(&sni), "SNI {sni:?} not in the summary lines");
        prop_assert!(follow.contains(&sni), "SNI {sni:?} not in --follow");
        // Table cells wrap between words (a TAB or a run of spaces becomes one space there):
        // every word of the detail is shown, in order.
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let detail = words(&escape::escape(&h.text(20)));
        prop_assert!(words(view("-q")).contains(&detail), "{detail:?} not in -q");
    }
}

#[test]
fn the_issue_triggers_are_escaped_in_every_view() {
    // The SSE trigger, C1 and bidi controls in every kind of field.
    let mut fields = vec![b"x".to_vec(); FIELDS];
    fields[17] = b"\x1b]0;X\x07".to_vec();
    fields[18] = b"\x1b[2J".to_vec();
    fields[5] = "text/html\u{9b}2J\u{202e}".as_bytes().to_vec();
    fields[13] = "chat\u{202e}\u{2066}".as_bytes().to_vec();
    fields[19] = "bye\u{9b}\u{200f}".as_bytes().to_vec();
    fields[4] = "v\u{061c}\u{85}".as_bytes().to_vec();
    fields[20] = "missing key \u{202a}\u{9b}".as_bytes().to_vec();
    let h = Hostile(fields);
    let outputs = check_all_views(&h).expect("every view is clean");
    let all: String = outputs.iter().map(|(_, o)| o.as_str()).collect();
    for shown in [
        "\\x1b]0;X\\x07",
        "\\x1b[2J",
        "text/html\\u{9b}2J\\u{202e}",
        "chat\\u{202e}\\u{2066}",
        "bye\\u{9b}\\u{200f}",
        "v\\u{61c}\\u{85}",
        "missing key \\u{202a}\\u{9b}",
    ] {
        assert!(all.contains(shown), "{shown} not shown:\n{all}");
    }
}
