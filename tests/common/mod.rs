//! Shared helpers of the integration tests: running the built binary and reading its JSON Lines,
//! the expected-results files of `captures/`, tshark as an independent dissector, and small
//! builders for synthetic captures (pcap writing, packet removal) that use none of sockscope's
//! own code, so that what they check is checked independently.

#![allow(dead_code)]

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The binary under test (`examples/hostile.rs`, which shares these builders, runs no binary).
pub const BIN: &str = match option_env!("CARGO_BIN_EXE_sockscope") {
    Some(path) => path,
    None => "sockscope",
};

pub mod counting;
pub mod hostile;
pub mod tls_crafted;

/// Runs `cmd`, which must succeed (its stderr tells why not), and returns its stdout.
pub fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn captures() -> PathBuf {
    root().join("captures")
}

/// A capture by its name relative to `captures/` (`ws-chat.pcap`, `bad/ws-gap.pcap`).
pub fn capture(name: &str) -> PathBuf {
    captures().join(name)
}

// ---------------------------------------------------------------------------------------------
// Skipping

/// Set (to anything but `""` or `0`) by `.ci/run`: there a test that cannot run — no tshark, no
/// root, a missing tool — fails instead of skipping, so that CI cannot pass without checking.
pub const CI_VAR: &str = "SOCKSCOPE_CI";

/// Whether skipping is forbidden in this run (see [`CI_VAR`]).
pub fn skipping_forbidden() -> bool {
    std::env::var_os(CI_VAR).is_some_and(|v| !v.is_empty() && v != "0")
}

/// A test, or a part of one, that cannot run here: prints why and returns, so that the caller
/// returns (or leaves the part out) — or, under `.ci/run`, fails the test.
#[track_caller]
pub fn skip(why: impl std::fmt::Display) {
    if skipping_forbidden() {
        panic!("{why}; {CI_VAR} is set (.ci/run), where no test may skip");
    }
    eprintln!("skipped: {why}");
}

// ---------------------------------------------------------------------------------------------
// Running sockscope

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The JSON Lines of a successful run.
    pub fn report(&self) -> Report {
        assert_eq!(self.code, 0, "sockscope failed: {}", self.stderr);
        Report::parse(&self.stdout)
    }
}

fn assert_no_panic(stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "sockscope panicked: {stderr}"
    );
}

/// Runs the binary with `args`, `stdin` as its standard input.
pub fn sockscope_with_stdin<S: AsRef<std::ffi::OsStr>>(args: &[S], stdin: &[u8]) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockscope");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The binary may stop reading early (malformed input): a broken pipe is fine.
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for sockscope");
    let _ = writer.join();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_no_panic(&run.stderr);
    run
}

pub fn sockscope<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    sockscope_with_stdin(args, b"")
}

/// `sockscope read --json <extra> <file>`, which must succeed.
pub fn read_json(file: &Path, extra: &[&str]) -> Report {
    let mut args: Vec<std::ffi::OsString> = vec!["read".into(), "--json".into()];
    args.extend(extra.iter().map(Into::into));
    args.push(file.into());
    sockscope(&args).report()
}

/// The JSON Lines output of one run.
#[derive(Clone, Debug)]
pub struct Report {
    pub records: Vec<Value>,
}

pub fn str_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

pub fn u64_of(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

pub fn bool_of(v: &Value, key: &str) -> Option<bool> {
    v.get(key).and_then(Value::as_bool)
}

impl Report {
    pub fn parse(stdout: &str) -> Report {
        let records: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        assert_eq!(
            records.last().and_then(|r| str_of(r, "type")),
            Some("summary"),
            "the summary must be the last record"
        );
        Report { records }
    }

    pub fn of_type<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.records
            .iter()
            .filter(move |r| str_of(r, "type") == Some(ty))
    }

    /// Records of one type belonging to `flow`, in output order.
    pub fn of_flow<'a>(&'a self, ty: &'a str, flow: u64) -> Vec<&'a Value> {
        self.of_type(ty)
            .filter(|r| u64_of(r, "flow") == Some(flow))
            .collect()
    }

    pub fn summary(&self) -> &Value {
        self.records.last().expect("summary")
    }

    /// `flow` records by id.
    pub fn flows(&self) -> BTreeMap<u64, &Value> {
        self.of_type("flow")
            .map(|f| (u64_of(f, "id").expect("flow id"), f))
            .collect()
    }

    /// Every anomaly code reported, flow-bound or global.
    pub fn codes(&self) -> BTreeSet<String> {
        self.of_type("anomaly")
            .filter_map(|a| str_of(a, "code"))
            .map(str::to_owned)
            .collect()
    }

    pub fn flow_codes(&self, flow: u64) -> BTreeSet<String> {
        self.of_flow("anomaly", flow)
            .into_iter()
            .filter_map(|a| str_of(a, "code"))
            .map(str::to_owned)
            .collect()
    }

    pub fn handshake(&self, flow: u64) -> Option<&Value> {
        self.of_flow("handshake", flow).into_iter().next()
    }

    /// HTTP records of one flow and direction, in order.
    pub fn http(&self, flow: u64, dir: &str) -> Vec<&Value> {
        self.of_flow("http", flow)
            .into_iter()
            .filter(|r| str_of(r, "dir") == Some(dir))
            .collect()
    }

    /// WebSocket frames of one flow and direction, in wire order.
    pub fn ws_frames(&self, flow: u64, dir: &str) -> Vec<&Value> {
        self.of_flow("ws_frame", flow)
            .into_iter()
            .filter(|r| str_of(r, "dir") == Some(dir))
            .collect()
    }

    /// What one side sent, as the expected files list it: data messages and ping/pong frames,
    /// each placed where its first frame was on the wire (a ping sent between the fragments of
    /// a message comes after that message, which started first). Control payloads are
    /// recovered from the hex preview (run with a `--snap-preview` of at least 250).
    pub fn ws_items(&self, flow: u64, dir: &str) -> Vec<WsItem> {
        let mut items: Vec<(usize, WsItem)> = Vec::new();
        let mut frame_no = 0usize;
        let mut message_start = 0usize;
        for r in &self.records {
            if u64_of(r, "flow") != Some(flow) || str_of(r, "dir") != Some(dir) {
                continue;
            }
            match str_of(r, "type") {
                Some("ws_frame") => {
                    let opcode = str_of(r, "opcode").unwrap_or_default();
                    match opcode {
                        "text" | "binary" => message_start = frame_no,
                        "ping" | "pong" => {
                            let len = u64_of(r, "payload_len").expect("payload_len");
                            let payload = unhex(str_of(r, "preview").unwrap_or_default());
                            let sha256 =
                                (payload.len() as u64 == len).then(|| sha256_hex(&payload));
                            items.push((
                                frame_no,
                                WsItem {
                                    opcode: opcode.to_owned(),
                                    len,
                                    sha256,
                                    frames: Some(1),
                                },
                            ));
                        }
                        _ => {}
                    }
                    frame_no += 1;
                }
                Some("ws_message") => items.push((
                    message_start,
                    WsItem {
                        opcode: str_of(r, "opcode").unwrap_or_default().to_owned(),
                        len: u64_of(r, "len").expect("len"),
                        sha256: str_of(r, "sha256").map(str::to_owned),
                        frames: u64_of(r, "frames"),
                    },
                )),
                _ => {}
            }
        }
        items.sort_by_key(|(start, _)| *start);
        items.into_iter().map(|(_, item)| item).collect()
    }

    /// The first close frame of one direction: `(code, reason)`.
    pub fn close(&self, flow: u64, dir: &str) -> Option<(Option<u64>, String)> {
        self.ws_frames(flow, dir)
            .into_iter()
            .find(|f| str_of(f, "opcode") == Some("close"))
            .map(|f| {
                (
                    u64_of(f, "close_code"),
                    str_of(f, "close_reason").unwrap_or_default().to_owned(),
                )
            })
    }
}

/// One message or control frame as the expected files list them.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct WsItem {
    pub opcode: String,
    pub len: u64,
    pub sha256: Option<String>,
    pub frames: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Expected-results files (captures/README.md, schema sockscope-expected/1)

#[derive(Clone, Debug, Deserialize)]
pub struct Expected {
    pub schema: String,
    pub capture: String,
    pub link_types: Vec<String>,
    pub port: u16,
    pub flows: usize,
    pub connections: Vec<ExpConnection>,
    pub http: Vec<ExpHttp>,
    pub websocket: Vec<ExpWebSocket>,
    pub sse: Vec<ExpSse>,
    pub anomalies: Vec<String>,
    #[serde(default)]
    pub injected: Vec<ExpInjected>,
    #[serde(default)]
    pub snaplen: Option<u32>,
    #[serde(default)]
    pub crafted: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ExpConnection {
    pub id: u64,
    pub client: String,
    pub server: String,
    pub kind: String,
    pub midstream: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ExpHttp {
    pub flow: u64,
    pub method: Option<String>,
    pub target: Option<String>,
    pub status: Option<u64>,
    pub request_body_len: Option<u64>,
    pub response_body_len: Option<u64>,
    pub chunked: bool,
    pub upgrade: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ExpWebSocket {
    pub flow: u64,
    pub subprotocol: Option<String>,
    pub extensions: Option<String>,
    pub deflate: bool,
    pub client_to_server: Vec<WsItem>,
    pub server_to_client: Vec<WsItem>,
    pub close: ExpClose,
    #[serde(default)]
    pub removed: Option<Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ExpClose {
    pub c2s: Option<(Option<u64>, String)>,
    pub s2c: Option<(Option<u64>, String)>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ExpSse {
    pub flow: u64,
    pub events: Vec<ExpSseEvent>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ExpSseEvent {
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ExpInjected {
    pub flow: u64,
    pub dir: String,
    pub anomaly: String,
    pub bytes_hex: String,
    pub note: String,
    pub also_listed: bool,
}

/// Every capture with an expected file: `(capture name relative to captures/, expected)`.
pub fn expected_all() -> Vec<(String, Expected)> {
    let mut out = Vec::new();
    for sub in ["", "bad"] {
        let dir = captures().join("expected").join(sub);
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("captures/expected")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        for path in names {
            let text = std::fs::read_to_string(&path).expect("expected file");
            let exp: Expected =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(exp.schema, "sockscope-expected/1", "{}", path.display());
            out.push((exp.capture.clone(), exp));
        }
    }
    out
}

pub fn expected(capture_name: &str) -> Expected {
    expected_all()
        .into_iter()
        .find(|(name, _)| name == capture_name)
        .map(|(_, e)| e)
        .unwrap_or_else(|| panic!("no expected file for {capture_name}"))
}

/// Every capture file under `captures/`, recursively, sorted.
pub fn bundled_captures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("captures dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if p.is_dir() {
                walk(&p, out);
            } else if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&captures(), &mut out);
    out
}

/// Every capture file under `captures/` and `captures/bad/`, relative names, sorted.
pub fn capture_files() -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["", "bad/"] {
        let dir = captures().join(sub);
        for e in std::fs::read_dir(&dir).expect("captures dir") {
            let p = e.expect("dir entry").path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                out.push(format!("{sub}{name}"));
            }
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------
// Bytes

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(data))
}

pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    b.chunks(2)
        .filter_map(|p| std::str::from_utf8(p).ok())
        .filter_map(|p| u8::from_str_radix(p, 16).ok())
        .collect()
}

/// base64(SHA-1(key + GUID)), RFC 6455 §4.2.2, computed here independently of the analyzer.
pub fn websocket_accept(key: &str) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// A WebSocket frame decoded from raw bytes (the expected files' `injected` hex).
#[derive(Clone, Debug)]
pub struct RawFrame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload: Vec<u8>,
}

/// Splits `bytes` into complete frames (RFC 6455 §5.2); `None` if they are not exactly frames.
pub fn raw_frames(mut bytes: &[u8]) -> Option<Vec<RawFrame>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let b0 = *bytes.first()?;
        let b1 = *bytes.get(1)?;
        let mut at = 2usize;
        let len = match b1 & 0x7f {
            126 => {
                let v = u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?);
                at = 4;
                u64::from(v)
            }
            127 => {
                let v = u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?);
                at = 10;
                v
            }
            n => u64::from(n),
        };
        let mask = if b1 & 0x80 != 0 {
            let k: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
            at += 4;
            Some(k)
        } else {
            None
        };
        let end = at.checked_add(usize::try_from(len).ok()?)?;
        let mut payload = bytes.get(at..end)?.to_vec();
        if let Some(k) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= k[i % 4];
            }
        }
        out.push(RawFrame {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            opcode: b0 & 0x0f,
            mask,
            payload,
        });
        bytes = bytes.get(end..)?;
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// tshark

/// The installed tshark, or why the comparison is skipped.
pub fn tshark() -> Result<&'static str, &'static str> {
    static FOUND: OnceLock<bool> = OnceLock::new();
    let found = *FOUND.get_or_init(|| {
        Command::new("tshark")
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found {
        Ok("tshark")
    } else {
        Err("tshark is not installed (CI installs it with .ci/run)")
    }
}

#[allow(unused_macros)]
macro_rules! require_tshark {
    () => {
        if let Err(why) = common::tshark() {
            common::skip(why);
            return;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use require_tshark;

/// The fields asked of tshark, in this order.
const TSHARK_FIELDS: &[&str] = &[
    "frame.number",
    "frame.time_epoch",
    "frame.len",
    "frame.cap_len",
    "tcp.stream",
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "ip.dst",
    "ipv6.dst",
    "tcp.dstport",
    "tcp.flags.syn",
    "tcp.flags.ack",
    "tcp.len",
    "tcp.seq",
    "tcp.analysis.retransmission",
    "tcp.analysis.keep_alive",
    "websocket.opcode",
    "websocket.fin",
    "websocket.mask",
    "websocket.payload_length",
    "websocket.payload_length_ext_16",
    "websocket.payload_length_ext_64",
    "websocket.payload.close.status_code",
    "http.request.method",
    "http.request.uri",
    "http.response.code",
    "http.sec_websocket_key",
    "http.sec_websocket_accept",
    "ip.len",
    "ipv6.plen",
];

/// Separates the values of a field that occurs several times in one packet (pipelined requests,
/// several WebSocket frames): a control character no value of ours contains.
const AGGREGATOR: char = '\u{1f}';

/// One TCP packet as tshark dissected it.
#[derive(Clone, Debug, Default)]
pub struct TPacket {
    pub number: u64,
    /// Capture time, microseconds since the epoch.
    pub time_us: i64,
    pub len: u64,
    pub cap_len: u64,
    pub stream: u64,
    pub src: String,
    pub dst: String,
    pub syn: bool,
    pub ack: bool,
    pub tcp_len: u64,
    /// Relative sequence number (1 = first payload byte after the SYN, or the first byte seen).
    pub seq: u64,
    pub retransmission: bool,
    pub keep_alive: bool,
    /// WebSocket frames completed in this packet, in order.
    pub ws: Vec<TFrame>,
    /// `(method, uri)` of the requests completed in this packet.
    pub requests: Vec<(String, String)>,
    pub responses: Vec<u64>,
    pub ws_keys: Vec<String>,
    pub ws_accepts: Vec<String>,
    /// IP header (with options or extension headers) plus TCP header: the IP length less the
    /// TCP payload (`ip.len - tcp.len`, or `40 + ipv6.plen - tcp.len`).
    pub tcpip_header_len: u64,
}

/// One WebSocket frame as tshark dissected it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TFrame {
    pub opcode: u64,
    pub fin: bool,
    pub masked: bool,
    pub payload_len: u64,
    pub close_code: Option<u64>,
}

fn values(field: &str) -> Vec<&str> {
    if field.is_empty() {
        Vec::new()
    } else {
        field.split(AGGREGATOR).collect()
    }
}

fn flag(v: &str) -> bool {
    matches!(v, "1" | "True" | "true")
}

fn num(v: &str) -> u64 {
    v.trim()
        .parse()
        .unwrap_or_else(|_| panic!("tshark gave {v:?} for a number"))
}

/// `seconds.fraction` as microseconds, exactly (no floating point).
pub fn micros(v: &str) -> i64 {
    let (secs, frac) = v.trim().split_once('.').unwrap_or((v.trim(), ""));
    let mut frac: String = frac.chars().take(6).collect();
    while frac.len() < 6 {
        frac.push('0');
    }
    let secs: i64 = secs.parse().unwrap_or_else(|_| panic!("time {v:?}"));
    let frac: i64 = frac.parse().unwrap_or_else(|_| panic!("time {v:?}"));
    secs * 1_000_000 + frac
}

fn endpoint(addr: &str, port: &str) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

/// Dissects `file` with tshark (`options`: `-d`, `-o` as the capture needs) and returns its TCP
/// packets. Panics with tshark's message if it fails.
pub fn tshark_packets(file: &Path, options: &[&str]) -> Vec<TPacket> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n")
        .arg("-r")
        .arg(file)
        .args(options)
        .args(["-Y", "tcp", "-T", "fields", "-E", "separator=/t", "-E"])
        .arg("occurrence=a")
        .arg("-E")
        .arg(format!("aggregator={AGGREGATOR}"));
    for f in TSHARK_FIELDS {
        cmd.args(["-e", f]);
    }
    let text = String::from_utf8(run_ok(&mut cmd)).expect("tshark output is UTF-8");
    text.lines().map(parse_tshark_line).collect()
}

/// Packets in a capture file: pcap records, or pcapng packet blocks (enhanced, simple,
/// obsolete). Counted here so that the packets of a merged file can be told apart.
pub fn packet_count(bytes: &[u8]) -> usize {
    let le32 = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    if bytes.get(..4) == Some(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        assert_eq!(
            bytes.get(8..12),
            Some(&[0x4d, 0x3c, 0x2b, 0x1a][..]),
            "little-endian pcapng only"
        );
        let (mut at, mut n) = (0usize, 0usize);
        while let (Some(ty), Some(len)) = (le32(at), le32(at + 4)) {
            if matches!(ty, 2 | 3 | 6) {
                n += 1;
            }
            at += len as usize;
        }
        n
    } else {
        PcapFile::parse(bytes).records.len()
    }
}

/// tshark's dissection of several captures in one run (tshark takes a third of a second to
/// start, far longer than it takes to dissect any of these files): the files are concatenated
/// with `mergecap -a` and the packets handed back per file, numbered as in their own file.
/// Falls back to one run per file without mergecap.
pub fn tshark_packets_many(files: &[PathBuf], options: &[&str]) -> Vec<Vec<TPacket>> {
    let mergecap_works = Command::new("mergecap")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if files.len() < 2 || !mergecap_works {
        return files.iter().map(|f| tshark_packets(f, options)).collect();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let merged = dir.path().join("merged.pcapng");
    run_ok(
        Command::new("mergecap")
            .args(["-a", "-F", "pcapng", "-w"])
            .arg(&merged)
            .args(files),
    );
    // First packet number of each file in the merged one.
    let mut starts = Vec::with_capacity(files.len());
    let mut next = 1u64;
    for f in files {
        starts.push(next);
        next += packet_count(&std::fs::read(f).expect("read capture")) as u64;
    }
    let mut per_file: Vec<Vec<TPacket>> = vec![Vec::new(); files.len()];
    for mut p in tshark_packets(&merged, options) {
        let i = starts.partition_point(|&s| s <= p.number) - 1;
        p.number -= starts[i] - 1;
        per_file[i].push(p);
    }
    per_file
}

fn parse_tshark_line(line: &str) -> TPacket {
    let cols: Vec<&str> = line.split('\t').collect();
    assert_eq!(cols.len(), TSHARK_FIELDS.len(), "tshark line: {line:?}");
    let col = |name: &str| {
        let i = TSHARK_FIELDS
            .iter()
            .position(|f| *f == name)
            .expect("known field");
        cols[i]
    };
    let first = |name: &str| values(col(name)).first().copied().unwrap_or_default();
    let src_ip = if col("ip.src").is_empty() {
        first("ipv6.src")
    } else {
        first("ip.src")
    };
    let dst_ip = if col("ip.dst").is_empty() {
        first("ipv6.dst")
    } else {
        first("ip.dst")
    };
    // A 7-bit length of 126 / 127 takes the next 16- / 64-bit extended length, in frame order.
    let mut ext16 = values(col("websocket.payload_length_ext_16")).into_iter();
    let mut ext64 = values(col("websocket.payload_length_ext_64")).into_iter();
    let opcodes = values(col("websocket.opcode"));
    let fins = values(col("websocket.fin"));
    let masks = values(col("websocket.mask"));
    let lens = values(col("websocket.payload_length"));
    assert!(
        fins.len() == opcodes.len() && masks.len() == opcodes.len() && lens.len() == opcodes.len(),
        "unaligned WebSocket fields: {line:?}"
    );
    let mut close_codes = values(col("websocket.payload.close.status_code")).into_iter();
    let ws = opcodes
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let opcode = num(op);
            let payload_len = match num(lens[i]) {
                126 => num(ext16.next().expect("16-bit length")),
                127 => num(ext64.next().expect("64-bit length")),
                n => n,
            };
            // A close frame with a status code; tshark has no field for a close without one.
            let close_code = if opcode == 8 && payload_len >= 2 {
                close_codes.next().map(num)
            } else {
                None
            };
            TFrame {
                opcode,
                fin: flag(fins[i]),
                masked: flag(masks[i]),
                payload_len,
                close_code,
            }
        })
        .collect();
    let methods = values(col("http.request.method"));
    let uris = values(col("http.request.uri"));
    assert_eq!(methods.len(), uris.len(), "unaligned HTTP fields: {line:?}");
    let tcp_len = num(first("tcp.len"));
    let ip_len = if col("ip.len").is_empty() {
        40 + num(first("ipv6.plen"))
    } else {
        num(first("ip.len"))
    };
    TPacket {
        number: num(first("frame.number")),
        time_us: micros(first("frame.time_epoch")),
        len: num(first("frame.len")),
        cap_len: num(first("frame.cap_len")),
        stream: num(first("tcp.stream")),
        src: endpoint(src_ip, first("tcp.srcport")),
        dst: endpoint(dst_ip, first("tcp.dstport")),
        syn: flag(first("tcp.flags.syn")),
        ack: flag(first("tcp.flags.ack")),
        tcp_len,
        seq: num(first("tcp.seq")),
        retransmission: !col("tcp.analysis.retransmission").is_empty(),
        keep_alive: !col("tcp.analysis.keep_alive").is_empty(),
        ws,
        requests: methods
            .iter()
            .zip(&uris)
            .map(|(m, u)| ((*m).to_owned(), (*u).to_owned()))
            .collect(),
        responses: values(col("http.response.code"))
            .into_iter()
            .map(num)
            .collect(),
        ws_keys: values(col("http.sec_websocket_key"))
            .into_iter()
            .map(str::to_owned)
            .collect(),
        ws_accepts: values(col("http.sec_websocket_accept"))
            .into_iter()
            .map(str::to_owned)
            .collect(),
        tcpip_header_len: ip_len.saturating_sub(tcp_len),
    }
}

/// One TCP connection as tshark sees it, with sockscope's notion of client and server.
#[derive(Clone, Debug)]
pub struct TStream {
    pub stream: u64,
    pub client: String,
    pub server: String,
    /// `[c2s, s2c]` packets in capture order.
    pub packets: [Vec<TPacket>; 2],
}

impl TStream {
    /// Sequence space covered per direction, from the first byte tshark numbers (relative
    /// sequence 1) to the end of the furthest segment: every byte the sender put on the wire
    /// once, whether it was captured, cut by the snaplen or missing altogether, retransmissions
    /// counted once. This is what sockscope's `bytes_c2s` / `bytes_s2c` count.
    pub fn extent(&self, d: usize) -> u64 {
        self.packets[d]
            .iter()
            .filter(|p| p.tcp_len > 0 && !p.keep_alive)
            .map(|p| p.seq + p.tcp_len - 1)
            .max()
            .unwrap_or(0)
    }

    /// Sequence space covered by the segments in the file (each byte once, however often it
    /// was sent): `extent` minus this is what is missing from the file altogether. Computed
    /// from sequence ranges rather than by leaving out what tshark flags as retransmissions:
    /// tshark also flags a segment that merely arrives after higher ones (the crafted
    /// out-of-order capture) although its bytes were seen nowhere else.
    pub fn covered(&self, d: usize) -> u64 {
        let mut ranges: Vec<(u64, u64)> = self.packets[d]
            .iter()
            .filter(|p| p.tcp_len > 0 && !p.keep_alive)
            .map(|p| (p.seq, p.seq + p.tcp_len))
            .collect();
        ranges.sort_unstable();
        let (mut total, mut reach) = (0u64, 0u64);
        for (start, end) in ranges {
            let start = start.max(reach);
            if end > start {
                total += end - start;
                reach = end;
            }
        }
        total
    }

    /// Sum of `tcp.len` over segments tshark does not flag as retransmissions (nor keep-alive
    /// probes): the payload that crossed the capture point once.
    pub fn first_sent(&self, d: usize) -> u64 {
        self.packets[d]
            .iter()
            .filter(|p| !p.retransmission && !p.keep_alive)
            .map(|p| p.tcp_len)
            .sum()
    }

    /// Payload bytes of first-sent segments that the snaplen cut off.
    pub fn snapped(&self, d: usize) -> u64 {
        self.packets[d]
            .iter()
            .filter(|p| !p.retransmission && !p.keep_alive && p.tcp_len > 0)
            .map(|p| (p.len - p.cap_len).min(p.tcp_len))
            .sum()
    }

    pub fn frames(&self, d: usize) -> Vec<TFrame> {
        self.packets[d]
            .iter()
            .flat_map(|p| p.ws.iter().cloned())
            .collect()
    }

    /// The frames with the number of the packet that completed each.
    pub fn frames_at(&self, d: usize) -> Vec<(u64, TFrame)> {
        self.packets[d]
            .iter()
            .flat_map(|p| p.ws.iter().map(|f| (p.number, f.clone())))
            .collect()
    }

    pub fn requests(&self) -> Vec<(String, String)> {
        self.requests_at()
            .into_iter()
            .map(|(_, m, u)| (m, u))
            .collect()
    }

    /// `(packet, method, uri)` of each request, in order.
    pub fn requests_at(&self) -> Vec<(u64, String, String)> {
        self.packets[0]
            .iter()
            .flat_map(|p| {
                p.requests
                    .iter()
                    .map(|(m, u)| (p.number, m.clone(), u.clone()))
            })
            .collect()
    }

    pub fn responses(&self) -> Vec<u64> {
        self.responses_at().into_iter().map(|(_, s)| s).collect()
    }

    /// `(packet, status)` of each response, in order.
    pub fn responses_at(&self) -> Vec<(u64, u64)> {
        self.packets[1]
            .iter()
            .flat_map(|p| p.responses.iter().map(|s| (p.number, *s)))
            .collect()
    }
}

/// Groups packets by `tcp.stream`. The client is the sender of the first SYN without ACK;
/// without one (mid-stream) the side whose endpoint sockscope calls client in `report`, so that
/// directions can be compared (roles are checked separately against the expected files).
pub fn tshark_streams(packets: &[TPacket], report: &Report) -> BTreeMap<u64, TStream> {
    let mut by_stream: BTreeMap<u64, Vec<&TPacket>> = BTreeMap::new();
    for p in packets {
        by_stream.entry(p.stream).or_default().push(p);
    }
    let sockscope_clients: BTreeSet<String> = report
        .of_type("flow")
        .filter_map(|f| str_of(f, "client"))
        .map(str::to_owned)
        .collect();
    by_stream
        .into_iter()
        .map(|(stream, pkts)| {
            let first = pkts[0];
            let (client, server) = match pkts.iter().find(|p| p.syn && !p.ack) {
                Some(syn) => (syn.src.clone(), syn.dst.clone()),
                None if sockscope_clients.contains(&first.dst) => {
                    (first.dst.clone(), first.src.clone())
                }
                None => (first.src.clone(), first.dst.clone()),
            };
            let mut dirs: [Vec<TPacket>; 2] = [Vec::new(), Vec::new()];
            for p in pkts {
                let d = usize::from(p.src != client);
                dirs[d].push(p.clone());
            }
            (
                stream,
                TStream {
                    stream,
                    client,
                    server,
                    packets: dirs,
                },
            )
        })
        .collect()
}

/// The sockscope flow id with these endpoints (either way round).
pub fn flow_for(report: &Report, a: &str, b: &str) -> Option<u64> {
    report.of_type("flow").find_map(|f| {
        let (c, s) = (str_of(f, "client")?, str_of(f, "server")?);
        ((c == a && s == b) || (c == b && s == a)).then(|| u64_of(f, "id"))?
    })
}

// ---------------------------------------------------------------------------------------------
// Synthetic captures

/// Writes a classic little-endian microsecond pcap.
pub struct PcapWriter {
    buf: Vec<u8>,
    micros: u64,
    /// Capture time between two packets.
    step: u64,
}

pub const LINKTYPE_ETHERNET: u32 = 1;

impl PcapWriter {
    pub fn new(linktype: u32) -> Self {
        let mut buf = Vec::new();
        buf.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        buf.extend_from_slice(&2u16.to_le_bytes());
        buf.extend_from_slice(&4u16.to_le_bytes());
        buf.extend_from_slice(&0i32.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        buf.extend_from_slice(&262_144u32.to_le_bytes());
        buf.extend_from_slice(&linktype.to_le_bytes());
        PcapWriter {
            buf,
            micros: 1_700_000_000_000_000,
            step: 1000,
        }
    }

    /// Packets `micros` apart instead of 1 ms (many packets within the idle timeout).
    pub fn with_step(mut self, micros: u64) -> Self {
        self.step = micros;
        self
    }

    /// Lets capture time pass (idle timeouts, long-poll timing).
    pub fn wait(&mut self, micros: u64) {
        self.micros += micros;
    }

    pub fn packet(&mut self, data: &[u8]) {
        self.micros += self.step;
        let (s, us) = (self.micros / 1_000_000, self.micros % 1_000_000);
        self.buf.extend_from_slice(&(s as u32).to_le_bytes());
        self.buf.extend_from_slice(&(us as u32).to_le_bytes());
        self.buf
            .extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.buf
            .extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(data);
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The bytes written so far (the file header first), handed over to be written out, so
    /// that captures larger than memory can be streamed.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

fn ip_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet + IPv4 packet carrying `l4` with IP protocol `proto`; `frag` is the IPv4
/// flags/fragment-offset word.
pub fn eth_ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, frag: u16, id: u16, l4: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(34 + l4.len());
    p.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = (20 + l4.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&id.to_be_bytes());
    ip.extend_from_slice(&frag.to_be_bytes());
    ip.extend_from_slice(&[64, proto, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let sum = ip_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&ip);
    p.extend_from_slice(l4);
    p
}

/// A TCP header (20 bytes, no options; checksum left 0: nothing here verifies it) + payload.
pub fn tcp_segment(
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags]);
    t.extend_from_slice(&65535u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

/// One synthetic TCP connection over Ethernet/IPv4, keeping both sequence numbers.
pub struct TcpConn {
    pub client: ([u8; 4], u16),
    pub server: ([u8; 4], u16),
    pub seq: [u32; 2],
}

pub const C2S: usize = 0;
pub const S2C: usize = 1;

impl TcpConn {
    pub fn new(client: ([u8; 4], u16), server: ([u8; 4], u16)) -> Self {
        TcpConn {
            client,
            server,
            seq: [1000, 50_000],
        }
    }

    fn ends(&self, dir: usize) -> (([u8; 4], u16), ([u8; 4], u16)) {
        if dir == C2S {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        }
    }

    /// A segment at an explicit sequence number, not advancing the connection.
    pub fn raw(&self, dir: usize, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let ((sa, sp), (da, dp)) = self.ends(dir);
        let ack = self.seq[1 - dir];
        eth_ipv4(
            sa,
            da,
            6,
            0x4000,
            1,
            &tcp_segment(sp, dp, seq, ack, flags, payload),
        )
    }

    pub fn handshake(&mut self, w: &mut PcapWriter) {
        let syn = self.raw(C2S, self.seq[C2S], SYN, b"");
        w.packet(&syn);
        self.seq[C2S] = self.seq[C2S].wrapping_add(1);
        let synack = self.raw(S2C, self.seq[S2C], SYN | ACK, b"");
        w.packet(&synack);
        self.seq[S2C] = self.seq[S2C].wrapping_add(1);
        let ack = self.raw(C2S, self.seq[C2S], ACK, b"");
        w.packet(&ack);
    }

    /// Sends `payload` from `dir` in segments of at most 1448 bytes.
    pub fn send(&mut self, w: &mut PcapWriter, dir: usize, payload: &[u8]) {
        for piece in payload.chunks(1448) {
            let p = self.raw(dir, self.seq[dir], ACK | PSH, piece);
            w.packet(&p);
            self.seq[dir] = self.seq[dir].wrapping_add(piece.len() as u32);
        }
    }

    pub fn fin(&mut self, w: &mut PcapWriter) {
        for dir in [C2S, S2C] {
            let p = self.raw(dir, self.seq[dir], FIN | ACK, b"");
            w.packet(&p);
            self.seq[dir] = self.seq[dir].wrapping_add(1);
        }
        let p = self.raw(C2S, self.seq[C2S], ACK, b"");
        w.packet(&p);
    }
}

/// The endpoints of the synthetic connections below.
pub const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 1], 40000);
pub const SERVER: ([u8; 4], u16) = ([10, 0, 0, 2], 80);

/// One HTTP exchange ([`http_exchange`]) on its own connection.
pub fn http_session(request: &[u8], response: &[u8]) -> Vec<u8> {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    http_exchange(&mut w, &mut TcpConn::new(CLIENT, SERVER), request, response);
    w.bytes().to_vec()
}

/// One HTTP exchange on `c`, from the SYN to both FINs and the last ACK, written to `w`.
pub fn http_exchange(w: &mut PcapWriter, c: &mut TcpConn, request: &[u8], response: &[u8]) {
    c.handshake(w);
    c.send(w, C2S, request);
    c.send(w, S2C, response);
    c.fin(w);
}

/// A connection picked up between an upgrade request and its 101: the 101, a text frame each
/// way, both FINs.
pub fn upgrade_without_request() -> Vec<u8> {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    let mut c = TcpConn::new(CLIENT, SERVER);
    c.send(&mut w, S2C, &upgrade_response(None));
    c.send(&mut w, C2S, &ws_frame(true, false, 1, true, b"hello"));
    c.send(&mut w, S2C, &ws_frame(true, false, 1, false, b"hello"));
    c.fin(&mut w);
    w.bytes().to_vec()
}

/// A masked client frame (`mask` fixed) or an unmasked server frame.
pub fn ws_frame(fin: bool, rsv1: bool, opcode: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode];
    let m = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x12, 0x34, 0x56, 0x78];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

pub const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub fn upgrade_request(extensions: Option<&str>) -> Vec<u8> {
    let mut r = format!(
        "GET /chat HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(e) = extensions {
        r.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

pub fn upgrade_response(extensions: Option<&str>) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        websocket_accept(WS_KEY)
    );
    if let Some(e) = extensions {
        r.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// A classic pcap split into its file header and records, to edit real captures (drop or cut
/// packets) without any of sockscope's code.
pub struct PcapFile {
    pub header: Vec<u8>,
    /// `(16-byte record header, captured bytes)`.
    pub records: Vec<([u8; 16], Vec<u8>)>,
}

impl PcapFile {
    /// Little-endian classic pcap only (what `captures/` holds).
    pub fn parse(bytes: &[u8]) -> PcapFile {
        assert!(
            matches!(
                bytes.get(..4),
                Some([0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1])
            ),
            "not a little-endian pcap"
        );
        let header = bytes[..24].to_vec();
        let mut records = Vec::new();
        let mut at = 24;
        while at + 16 <= bytes.len() {
            let hdr: [u8; 16] = bytes[at..at + 16].try_into().expect("16 bytes");
            let caplen = u32::from_le_bytes(hdr[8..12].try_into().expect("4 bytes")) as usize;
            records.push((hdr, bytes[at + 16..at + 16 + caplen].to_vec()));
            at += 16 + caplen;
        }
        assert_eq!(at, bytes.len(), "trailing bytes in pcap");
        PcapFile { header, records }
    }

    pub fn read(path: &Path) -> PcapFile {
        PcapFile::parse(&std::fs::read(path).expect("read capture"))
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.header.clone();
        for (hdr, data) in &self.records {
            out.extend_from_slice(hdr);
            out.extend_from_slice(data);
        }
        out
    }
}

/// A file in a fresh temporary directory (kept alive by the returned guard).
pub fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write temp file");
    (dir, path)
}

/// Collects every difference between two accounts of the same capture, so that one run shows
/// all of them. The names say which side is which in the messages ("got" / "expected",
/// "sockscope" / "tshark").
pub struct Diffs(pub Vec<String>, [&'static str; 2]);

impl Diffs {
    pub fn new(ours: &'static str, theirs: &'static str) -> Self {
        Diffs(Vec::new(), [ours, theirs])
    }

    pub fn eq<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: impl std::fmt::Display,
        ours: T,
        theirs: T,
    ) {
        if ours != theirs {
            let [a, b] = self.1;
            self.0.push(format!("{what}: {a} {ours:?}, {b} {theirs:?}"));
        }
    }

    pub fn check(&mut self, what: impl std::fmt::Display, ok: bool) {
        if !ok {
            self.0.push(what.to_string());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The HTML report

/// The contents of `<script type="application/json" id="ID">`.
pub fn report_block<'a>(html: &'a str, id: &str) -> &'a str {
    let open = format!("<script type=\"application/json\" id=\"{id}\">");
    let start = html.find(&open).unwrap_or_else(|| panic!("no {id} block")) + open.len();
    let len = html[start..].find("</script>").expect("block ends");
    &html[start..start + len]
}

/// The HTML report's records expanded back into JSON Lines, values exactly as embedded.
pub fn report_records(html: &str) -> Vec<String> {
    let data = report_block(html, "records");
    assert!(!data.contains('<'), "a `<` inside the records block");
    #[derive(serde::Deserialize)]
    struct Packed<'a> {
        schemas: Vec<Vec<String>>,
        #[serde(borrow)]
        rows: Vec<Vec<&'a serde_json::value::RawValue>>,
        /// Values written once, and the columns of each key list that hold their indexes.
        #[serde(borrow, default)]
        shared: Vec<&'a serde_json::value::RawValue>,
        #[serde(default)]
        coded: Vec<Vec<usize>>,
    }
    let packed: Packed<'_> = serde_json::from_str(data).expect("records block is JSON");
    packed
        .rows
        .iter()
        .map(|row| {
            let schema: usize = row[0].get().parse().expect("schema index");
            let keys = &packed.schemas[schema];
            assert_eq!(keys.len(), row.len() - 1, "row length");
            let coded = packed.coded.get(schema);
            let fields: Vec<String> = keys
                .iter()
                .zip(&row[1..])
                .enumerate()
                .map(|(i, (k, v))| {
                    let v = match coded {
                        Some(cols) if cols.contains(&i) => {
                            let at: usize = v.get().parse().expect("shared value index");
                            packed.shared[at].get()
                        }
                        _ => v.get(),
                    };
                    format!("{}:{}", serde_json::to_string(k).unwrap(), v)
                })
                .collect();
            // `\u003c` stands for `<` in the page; the JSON printer never writes it.
            format!("{{{}}}", fields.join(",")).replace("\\u003c", "<")
        })
        .collect()
}
