//! `sockscope live` end to end, each test in its own network namespace so that it sees only the
//! traffic it makes: real sockets, a real WebSocket conversation (tungstenite), the real binary.
//!
//! These tests need root (CI runs them as root); as anyone else they print why they are skipped
//! and return — except under `.ci/run`, where a skip fails the test. `tshark` checks the written
//! file independently (required under `.ci/run` too).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::Message;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

mod common;

use common::run_ok;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn have(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Why this test cannot run here, if it cannot.
fn skip_reason() -> Option<&'static str> {
    if !is_root() {
        return Some("needs root to create network namespaces and capture");
    }
    if !have("ip", "-V") {
        return Some("the `ip` tool (iproute2) is not installed");
    }
    None
}

macro_rules! require_root {
    () => {
        if let Some(why) = skip_reason() {
            common::skip(why);
            return;
        }
    };
}

/// A network namespace with loopback up, deleted on drop (even when the test fails).
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "sockscope-test-{}-{}-{tag}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        run_ok(Command::new("ip").arg("-n").arg(&self.name).args(args));
    }

    /// A command run inside the namespace.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `f` on a thread that has entered the namespace; sockets it creates live there.
    fn enter<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open netns");
            // SAFETY: setns on this thread only, with a valid namespace descriptor.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("namespace thread")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A running `sockscope live`, with stdout and stderr collected in the background.
struct Live {
    child: Child,
    stderr_lines: mpsc::Receiver<String>,
    stderr_seen: String,
    stdout: Option<thread::JoinHandle<String>>,
}

impl Live {
    fn start(mut cmd: Command) -> Live {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sockscope");
        let mut out = child.stdout.take().expect("stdout");
        let stdout = thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Live {
            child,
            stderr_lines: rx,
            stderr_seen: String::new(),
            stdout: Some(stdout),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the "capturing on" line; panics with what was printed if it never comes.
    fn wait_capturing(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match self.stderr_lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    self.stderr_seen.push_str(&line);
                    self.stderr_seen.push('\n');
                    if line.contains("capturing on") {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        panic!(
                            "sockscope exited ({status}) before capturing:\n{}",
                            self.stderr_seen
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!(
                        "sockscope closed stderr before capturing:\n{}",
                        self.stderr_seen
                    )
                }
            }
        }
        panic!("sockscope did not start capturing:\n{}", self.stderr_seen);
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: sends a signal to our own child.
        assert_eq!(unsafe { libc::kill(self.pid() as libc::pid_t, sig) }, 0);
    }

    /// Waits for the exit (killing it after `timeout`) and returns status, stdout, stderr.
    fn finish(mut self, timeout: Duration) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "sockscope did not exit within {timeout:?}:\n{}",
                    self.stderr_seen
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        let stdout = self
            .stdout
            .take()
            .expect("once")
            .join()
            .expect("stdout thread");
        while let Ok(line) = self.stderr_lines.recv_timeout(Duration::from_millis(500)) {
            self.stderr_seen.push_str(&line);
            self.stderr_seen.push('\n');
        }
        (status, stdout, self.stderr_seen.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn of_type<'a>(records: &'a [Value], t: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["type"] == t).collect()
}

/// The records without what legitimately differs between runs over the same packets.
fn normalized(records: &[Value]) -> Vec<Value> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(o) = r.as_object_mut() {
                // `kernel`: what the kernel counted, which only a live capture has.
                for k in ["ts", "first_ts", "last_ts", "frame", "kernel"] {
                    o.remove(k);
                }
            }
            r
        })
        .collect()
}

/// (timestamp ns, captured bytes) of every packet in a pcap file, checking the header.
fn read_pcap(path: &Path) -> (u32, Vec<(u64, Vec<u8>)>) {
    let bytes = std::fs::read(path).expect("read pcap");
    let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..]).expect("pcap header");
    let header = reader.header();
    assert_eq!(
        header.ts_resolution,
        pcap_file::pcap::PcapTsResolution::NanoSecond
    );
    assert_eq!(header.snaplen, 262_144);
    let mut packets = Vec::new();
    while let Some(p) = reader.next_packet() {
        let p = p.expect("well-formed record");
        packets.push((p.timestamp().as_nanos() as u64, p.data().to_vec()));
    }
    (u32::from(header.datalink), packets)
}

/// TCP flags of an Ethernet/IPv4/TCP frame.
fn tcp_flags(frame: &[u8]) -> Option<u8> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ihl = usize::from(frame.get(14)? & 0x0f) * 4;
    frame.get(14 + ihl + 13).copied()
}

/// Runs a small HTTP exchange to 127.0.0.1:80 inside `ns`: connect, request, response, close.
fn http_exchange(ns: &Netns) {
    let (listener, client) = ns.enter(|| {
        let l = TcpListener::bind("127.0.0.1:80").expect("bind :80");
        let c = TcpStream::connect("127.0.0.1:80").expect("connect");
        (l, c)
    });
    let server = thread::spawn(move || answer_http(listener.accept().expect("accept").0));
    ask_http(client);
    server.join().expect("server");
}

/// The client side of [`http_exchange`]: a request, the response to the close.
fn ask_http(mut client: TcpStream) {
    client
        .write_all(b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("request");
    let mut response = Vec::new();
    client.read_to_end(&mut response).expect("response");
    assert!(response.ends_with(b"hello"));
}

/// The server side of [`http_exchange`]: reads a request head, answers it and closes.
fn answer_http(mut s: TcpStream) {
    let mut buf = [0u8; 1024];
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut buf).expect("read request");
        assert!(n > 0, "client closed early");
        got.extend_from_slice(&buf[..n]);
    }
    s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        .expect("respond");
}

/// What the WebSocket peers exchange: every data message is echoed by the server.
const TEXT_SHORT: &str = "hello";
const PING: &[u8] = b"are you there";

fn binary_payload() -> Vec<u8> {
    (0..=255u8).collect()
}

fn text_long() -> String {
    "a".repeat(300)
}

/// A tungstenite client and server talking over 127.0.0.1:80 inside `ns`: text, binary, ping,
/// a 300-byte text (16-bit length), then a close with code 1000 and reason "bye".
fn websocket_exchange(ns: &Netns) {
    let (listener, client_stream) = ns.enter(|| {
        let l = TcpListener::bind("127.0.0.1:80").expect("bind :80");
        let c = TcpStream::connect("127.0.0.1:80").expect("connect");
        (l, c)
    });
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().expect("accept");
        let mut ws = tungstenite::accept(s).expect("server handshake");
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => ws.send(Message::Text(t)).expect("echo text"),
                Ok(Message::Binary(b)) => ws.send(Message::Binary(b)).expect("echo binary"),
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("server: {e}"),
            }
        }
    });
    let (mut ws, response) =
        tungstenite::client("ws://127.0.0.1/chat", client_stream).expect("client handshake");
    assert_eq!(response.status(), 101);
    let expect_echo = |ws: &mut tungstenite::WebSocket<TcpStream>, m: Message| {
        ws.send(m.clone()).expect("send");
        loop {
            match ws.read().expect("read") {
                Message::Pong(_) => continue,
                got => {
                    assert_eq!(got, m);
                    break;
                }
            }
        }
    };
    expect_echo(&mut ws, Message::text(TEXT_SHORT));
    expect_echo(&mut ws, Message::binary(binary_payload()));
    ws.send(Message::Ping(PING.to_vec().into())).expect("ping");
    match ws.read().expect("pong") {
        Message::Pong(p) => assert_eq!(&p[..], PING),
        other => panic!("expected pong, got {other:?}"),
    }
    expect_echo(&mut ws, Message::text(text_long()));
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .expect("close");
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("client: {e}"),
        }
    }
    drop(ws);
    server.join().expect("server");
}

#[test]
fn live_report_holds_the_records_live_json_printed() {
    require_root!();
    let ns = Netns::new("report");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("live.html");
    let mut cmd = ns.command(BIN);
    cmd.args(["live", "lo", "--json", "--duration", "3", "--report"])
        .arg(&page);
    let mut live = Live::start(cmd);
    live.wait_capturing();
    websocket_exchange(&ns);
    let (status, stdout, stderr) = live.finish(Duration::from_secs(15));
    assert!(status.success(), "{status}\n{stderr}");
    assert!(
        stderr.contains(&format!("wrote the report to {}", page.display())),
        "{stderr}"
    );
    let html = std::fs::read_to_string(&page).expect("the report was written");
    // The page's records are the ones --json printed on stdout, plus its own.
    let ours: Vec<String> = common::report_records(&html)
        .into_iter()
        .filter(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            !["tcp", "ws_accept", "sse_stream"].contains(&v["type"].as_str().unwrap())
        })
        .collect();
    let printed: Vec<String> = stdout.lines().map(String::from).collect();
    assert_eq!(ours, printed);
    let records = json_lines(&stdout);
    assert_eq!(of_type(&records, "ws_message").len(), 6, "{stdout}");
    let meta: Value = serde_json::from_str(common::report_block(&html, "meta")).unwrap();
    assert_eq!(meta["origin"]["interface"], "lo");
}

#[test]
fn live_writes_har_zeek_and_parquet_files_of_what_it_saw() {
    require_root!();
    let ns = Netns::new("files");
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("live.har");
    let zeek = dir.path().join("zeek");
    let mut cmd = ns.command(BIN);
    cmd.args(["live", "lo", "--json", "--duration", "3", "--har"])
        .arg(&har)
        .arg("--zeek")
        .arg(&zeek);
    let mut live = Live::start(cmd);
    live.wait_capturing();
    websocket_exchange(&ns);
    let (status, stdout, stderr) = live.finish(Duration::from_secs(15));
    assert!(status.success(), "{status}\n{stderr}");
    let records = json_lines(&stdout);
    let har: Value = serde_json::from_str(&std::fs::read_to_string(&har).unwrap()).unwrap();
    let ws = har["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["response"]["status"] == 101)
        .expect("the upgrade's entry");
    assert_eq!(
        ws["_webSocketMessages"].as_array().unwrap().len(),
        of_type(&records, "ws_message").len()
    );
    let log = std::fs::read_to_string(zeek.join("websocket.log")).unwrap();
    let rows = log.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(rows, of_type(&records, "handshake").len(), "{log}");
    assert!(log.lines().last().unwrap().starts_with("#close\t"), "{log}");

    // Parquet instead of the view: nothing on stdout, the tables in --out.
    let out = dir.path().join("parquet");
    let mut cmd = ns.command(BIN);
    cmd.args([
        "live",
        "lo",
        "--format",
        "parquet",
        "--duration",
        "3",
        "--out",
    ])
    .arg(&out);
    let mut live = Live::start(cmd);
    live.wait_capturing();
    websocket_exchange(&ns);
    let (status, stdout, stderr) = live.finish(Duration::from_secs(15));
    assert!(status.success(), "{status}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let messages = std::fs::read(out.join("ws_messages.parquet")).expect("ws_messages.parquet");
    assert!(messages.starts_with(b"PAR1") && messages.ends_with(b"PAR1"));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["kinds"]["websocket"], 1, "{summary}");
}

#[test]
fn live_report_to_a_path_that_cannot_be_written_fails_before_capturing() {
    require_root!();
    let ns = Netns::new("report-bad");
    let out = ns
        .command(BIN)
        .args([
            "live",
            "lo",
            "--duration",
            "1",
            "--report",
            "/nonexistent-dir/r.html",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent-dir/r.html: no such file or directory"),
        "{stderr}"
    );
    assert!(!stderr.contains("capturing on"), "{stderr}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn websocket_conversation_is_reported_live_and_from_the_written_file() {
    require_root!();
    let ns = Netns::new("ws");
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("out.pcap");
    let mut cmd = ns.command(BIN);
    cmd.args(["live", "lo", "--json", "-w"])
        .arg(&pcap)
        .args(["--duration", "3"]);
    let mut live = Live::start(cmd);
    live.wait_capturing();
    assert!(
        live.stderr_seen
            .contains("capturing on lo, link type Ethernet (1)"),
        "{}",
        live.stderr_seen
    );
    websocket_exchange(&ns);
    let (status, stdout, stderr) = live.finish(Duration::from_secs(15));
    assert!(status.success(), "{status}\n{stderr}");
    assert!(stderr.contains("lo: "), "{stderr}");
    assert!(stderr.contains(" dropped by kernel"), "{stderr}");
    let records = json_lines(&stdout);

    // The file: valid, Ethernet, nanosecond, one record per analyzed packet, in time order.
    let (link, packets) = read_pcap(&pcap);
    assert_eq!(link, 1);
    let summary = of_type(&records, "summary");
    assert_eq!(summary.len(), 1, "{stdout}");
    assert_eq!(
        records.last().map(|r| &r["type"]),
        Some(&Value::from("summary"))
    );
    assert_eq!(summary[0]["packets"], packets.len() as u64);
    assert!(packets.len() >= 20, "{} packets", packets.len());
    assert!(packets.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(
        stderr.contains(&format!("wrote {} packets", packets.len())),
        "{stderr}"
    );
    // Each packet once: loopback's outgoing copies are not captured.
    let syns = packets
        .iter()
        .filter(|p| tcp_flags(&p.1) == Some(0x02))
        .count();
    assert_eq!(syns, 1);

    if have("tshark", "-v") {
        let out = run_ok(Command::new("tshark").arg("-r").arg(&pcap).args([
            "-Y",
            "websocket",
            "-T",
            "fields",
            "-e",
            "websocket.opcode",
        ]));
        let opcodes: Vec<String> = String::from_utf8_lossy(&out)
            .lines()
            .map(str::to_string)
            .collect();
        // text, text, binary, binary, ping, pong, text, text, close, close
        let mut sorted = opcodes.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            ["1", "1", "1", "1", "10", "2", "2", "8", "8", "9"],
            "tshark saw {opcodes:?}"
        );
    } else {
        common::skip("tshark is not installed: the written file was checked with pcap-file only");
    }

    // The analysis, streamed live.
    let handshakes = of_type(&records, "handshake");
    assert_eq!(handshakes.len(), 1, "{stdout}");
    assert_eq!(handshakes[0]["accept_valid"], true);
    assert_eq!(handshakes[0]["accept"], handshakes[0]["expected_accept"]);
    assert_eq!(handshakes[0]["version"], "13");

    let messages = of_type(&records, "ws_message");
    let summary_of = |m: &&Value| {
        (
            m["dir"].as_str().unwrap_or_default().to_string(),
            m["opcode"].as_str().unwrap_or_default().to_string(),
            m["len"].as_u64().unwrap_or_default(),
            m["preview"].as_str().unwrap_or_default().to_string(),
        )
    };
    let long_preview = "a".repeat(128);
    let bin_preview = hex(&binary_payload()[..64]);
    for dir in ["c2s", "s2c"] {
        let got: Vec<_> = messages
            .iter()
            .filter(|m| m["dir"] == dir)
            .map(summary_of)
            .collect();
        let want = vec![
            (
                dir.to_string(),
                "text".to_string(),
                5,
                TEXT_SHORT.to_string(),
            ),
            (
                dir.to_string(),
                "binary".to_string(),
                256,
                bin_preview.clone(),
            ),
            (
                dir.to_string(),
                "text".to_string(),
                300,
                long_preview.clone(),
            ),
        ];
        assert_eq!(got, want, "{dir} messages");
    }
    for m in &messages {
        assert_eq!(m["frames"], 1);
        assert_eq!(m["compressed"], false);
        assert_eq!(m["flow"], 1);
    }

    let frames = of_type(&records, "ws_frame");
    let control = |opcode: &str, dir: &str| -> Vec<&Value> {
        frames
            .iter()
            .copied()
            .filter(|f| f["opcode"] == opcode && f["dir"] == dir)
            .collect()
    };
    let ping = control("ping", "c2s");
    assert_eq!(ping.len(), 1, "{frames:?}");
    assert_eq!(ping[0]["payload_len"], PING.len());
    assert_eq!(ping[0]["masked"], true);
    let pong = control("pong", "s2c");
    assert_eq!(pong.len(), 1, "{frames:?}");
    assert_eq!(pong[0]["masked"], false);
    for dir in ["c2s", "s2c"] {
        let close = control("close", dir);
        assert_eq!(close.len(), 1, "{dir}: {frames:?}");
        assert_eq!(close[0]["close_code"], 1000);
        assert_eq!(close[0]["close_reason"], "bye");
    }
    assert!(of_type(&records, "anomaly").is_empty(), "{stdout}");

    let flows = of_type(&records, "flow");
    assert_eq!(flows.len(), 1, "{stdout}");
    let flow = flows[0];
    assert_eq!(flow["flow"], 1);
    assert_eq!(flow["id"], 1);
    assert_eq!(flow["kind"], "websocket");
    assert_eq!(flow["server"], "127.0.0.1:80");
    assert_eq!(
        (flow["messages_c2s"].as_u64(), flow["messages_s2c"].as_u64()),
        (Some(3), Some(3))
    );
    // The kernel's counters: every packet that passed the filter, none dropped.
    let summary = records.last().expect("summary");
    let kernel = &summary["kernel"];
    assert_eq!(kernel["dropped"], 0, "{summary}");
    assert_eq!(kernel["ring_full"], 0, "{summary}");
    assert!(
        kernel["received"].as_u64() >= summary["packets"].as_u64(),
        "{summary}"
    );
    assert_eq!(flow["handshake_complete"], true);
    assert_eq!(flow["ws_messages"], 6);
    assert_eq!(flow["closed"], "fin");
    // Packets after both FINs may or may not count towards the flow (the TCP layer decides);
    // the comparison with `read` below pins the exact number.
    let flow_packets = flow["packets"].as_u64().unwrap_or_default();
    assert!(
        (10..=packets.len() as u64).contains(&flow_packets),
        "{flow}"
    );

    // The same capture read back from the file gives the same records.
    let out = run_ok(Command::new(BIN).args(["read", "--json"]).arg(&pcap));
    let from_file = json_lines(&String::from_utf8_lossy(&out));
    assert_eq!(normalized(&from_file), normalized(&records));
}

#[test]
fn ctrl_c_drains_the_ring_and_keeps_every_packet() {
    require_root!();
    let ns = Netns::new("sigint");
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("out.pcap");
    let mut cmd = ns.command(BIN);
    cmd.args(["live", "lo", "--json", "-V", "-w"]).arg(&pcap);
    let mut live = Live::start(cmd);
    live.wait_capturing();
    http_exchange(&ns);
    // At once: the last packets are still in the block the kernel is filling.
    live.signal(libc::SIGINT);
    let (status, stdout, stderr) = live.finish(Duration::from_secs(10));
    assert!(status.success(), "{status}\n{stderr}");
    assert!(stderr.contains("stopped: interrupted"), "{stderr}");
    let records = json_lines(&stdout);
    let summary = of_type(&records, "summary");
    assert_eq!(summary.len(), 1, "{stdout}");
    let (_, packets) = read_pcap(&pcap);
    assert_eq!(summary[0]["packets"], packets.len() as u64);
    // The whole connection, through the final ACK of the close.
    let flags: Vec<u8> = packets.iter().filter_map(|p| tcp_flags(&p.1)).collect();
    assert_eq!(flags.len(), packets.len());
    assert_eq!(flags.first(), Some(&0x02), "{flags:x?}");
    assert_eq!(
        flags.iter().filter(|&&f| f & 0x01 != 0).count(),
        2,
        "{flags:x?}"
    );
    assert_eq!(flags.last(), Some(&0x10), "{flags:x?}");
    assert!(
        stderr.contains(&format!("lo: {} packets captured", packets.len())),
        "{stderr}"
    );
}

#[test]
fn count_stops_after_n_packets() {
    require_root!();
    for threads in ["1", "2"] {
        let ns = Netns::new("count");
        let dir = tempfile::tempdir().unwrap();
        let pcap = dir.path().join("out.pcap");
        let mut cmd = ns.command(BIN);
        cmd.args([
            "live",
            "lo",
            "--json",
            "-c",
            "4",
            "--threads",
            threads,
            "-w",
        ])
        .arg(&pcap);
        let mut live = Live::start(cmd);
        live.wait_capturing();
        http_exchange(&ns);
        let (status, stdout, stderr) = live.finish(Duration::from_secs(10));
        assert!(status.success(), "{status}\n{stderr}");
        let records = json_lines(&stdout);
        assert_eq!(of_type(&records, "summary")[0]["packets"], 4, "{stdout}");
        let (_, packets) = read_pcap(&pcap);
        assert_eq!(packets.len(), 4);
        assert_eq!(tcp_flags(&packets[0].1), Some(0x02));
    }
}

/// Many conversations at once inside `ns`, all connected before any of them talks: `ws`
/// tungstenite clients of an echo server on 127.0.0.1:80 (a text and a binary message each
/// way, then a close) and `http` clients of a server on 127.0.0.1:81 (one request, a response,
/// the close).
fn concurrent_traffic(ns: &Netns, ws: usize, http: usize) {
    let (ws_listener, http_listener, ws_streams, http_streams) = ns.enter(move || {
        let wl = TcpListener::bind("127.0.0.1:80").expect("bind :80");
        let hl = TcpListener::bind("127.0.0.1:81").expect("bind :81");
        let connect = |port: u16| TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let w: Vec<TcpStream> = (0..ws).map(|_| connect(80)).collect();
        let h: Vec<TcpStream> = (0..http).map(|_| connect(81)).collect();
        (wl, hl, w, h)
    });
    let ws_server = thread::spawn(move || {
        let echoes: Vec<_> = (0..ws)
            .map(|_| {
                let (s, _) = ws_listener.accept().expect("accept");
                thread::spawn(move || {
                    let mut ws = tungstenite::accept(s).expect("server handshake");
                    loop {
                        match ws.read() {
                            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                                ws.send(m).expect("echo")
                            }
                            Ok(_) => {}
                            Err(tungstenite::Error::ConnectionClosed) => break,
                            Err(e) => panic!("server: {e}"),
                        }
                    }
                })
            })
            .collect();
        for e in echoes {
            e.join().expect("echo thread");
        }
    });
    let http_server = thread::spawn(move || {
        let answers: Vec<_> = (0..http)
            .map(|_| {
                let (s, _) = http_listener.accept().expect("accept");
                thread::spawn(move || answer_http(s))
            })
            .collect();
        for a in answers {
            a.join().expect("answer thread");
        }
    });
    let mut clients = Vec::new();
    for (i, stream) in ws_streams.into_iter().enumerate() {
        clients.push(thread::spawn(move || {
            let (mut ws, _) =
                tungstenite::client("ws://127.0.0.1/chat", stream).expect("client handshake");
            for m in [
                Message::text(format!("hello from {i}")),
                Message::binary(vec![i as u8; 100 + i]),
            ] {
                ws.send(m.clone()).expect("send");
                assert_eq!(ws.read().expect("echo"), m);
            }
            ws.close(None).expect("close");
            loop {
                match ws.read() {
                    Ok(_) => {}
                    Err(tungstenite::Error::ConnectionClosed) => break,
                    Err(e) => panic!("client: {e}"),
                }
            }
        }));
    }
    for stream in http_streams {
        clients.push(thread::spawn(move || ask_http(stream)));
    }
    for c in clients {
        c.join().expect("client");
    }
    ws_server.join().expect("websocket server");
    http_server.join().expect("http server");
}

/// `live --threads N`: N rings in one fanout group, each analyzed by its own thread. On the
/// same traffic the report is the one-thread report of the written file, and the kernel's flow
/// hash kept each connection whole: one flow per connection, both directions in it, nothing
/// picked up mid-stream.
#[test]
fn fanout_rings_report_what_one_thread_reports() {
    require_root!();
    const WS: usize = 12;
    const HTTP: usize = 12;
    for threads in [2usize, 3] {
        let ns = Netns::new("fanout");
        let dir = tempfile::tempdir().unwrap();
        let pcap = dir.path().join("out.pcap");
        let mut cmd = ns.command(BIN);
        cmd.args([
            "live",
            "lo",
            "--json",
            "-V",
            "-p",
            "80",
            "-p",
            "81",
            "--threads",
        ])
        .arg(threads.to_string())
        .arg("-w")
        .arg(&pcap);
        let mut live = Live::start(cmd);
        live.wait_capturing();
        assert!(
            live.stderr_seen
                .contains(&format!("{threads} rings (fanout hash), each ")),
            "{}",
            live.stderr_seen
        );
        concurrent_traffic(&ns, WS, HTTP);
        // Ctrl-C ends every ring and worker; the report comes once.
        live.signal(libc::SIGINT);
        let (status, stdout, stderr) = live.finish(Duration::from_secs(20));
        assert!(status.success(), "{status}\n{stderr}");
        assert!(stderr.contains("stopped: interrupted"), "{stderr}");
        let records = json_lines(&stdout);
        let summary = of_type(&records, "summary");
        assert_eq!(summary.len(), 1, "{stdout}");
        let summary = summary[0];

        // Every connection whole, in one flow.
        let flows = of_type(&records, "flow");
        assert_eq!(flows.len(), WS + HTTP, "{threads} threads: {stdout}");
        assert!(of_type(&records, "anomaly").is_empty(), "{stdout}");
        for f in &flows {
            assert_eq!(f["closed"], "fin", "{f}");
            assert!(f["bytes_c2s"].as_u64() > Some(0), "{f}");
            assert!(f["bytes_s2c"].as_u64() > Some(0), "{f}");
            match f["kind"].as_str() {
                Some("websocket") => {
                    assert_eq!(f["handshake_complete"], true, "{f}");
                    assert_eq!(f["ws_messages"], 4, "{f}");
                }
                Some("http") => assert_eq!(f["http_messages"], 2, "{f}"),
                other => panic!("flow of kind {other:?}: {f}"),
            }
        }
        assert_eq!(summary["kinds"]["websocket"], WS, "{summary}");
        assert_eq!(summary["kinds"]["http"], HTTP, "{summary}");

        // The kernel's counters: one line per ring, summed in the summary; the flows were
        // spread over more than one ring.
        let (_, packets) = read_pcap(&pcap);
        assert_eq!(summary["packets"], packets.len() as u64);
        assert_eq!(summary["kernel"]["dropped"], 0, "{summary}");
        let per_ring: Vec<u64> = (1..=threads)
            .map(|i| {
                let prefix = format!("lo: ring {i} of {threads}: ");
                let line = stderr
                    .lines()
                    .find_map(|l| l.split_once(&prefix).map(|(_, rest)| rest))
                    .unwrap_or_else(|| panic!("no line for ring {i}: {stderr}"));
                line.split(' ').next().and_then(|n| n.parse().ok()).unwrap()
            })
            .collect();
        assert_eq!(
            Some(per_ring.iter().sum::<u64>()),
            summary["kernel"]["received"].as_u64(),
            "{per_ring:?} {summary}"
        );
        assert!(
            per_ring.iter().filter(|&&n| n > 0).count() >= 2,
            "the kernel put every flow on one ring: {per_ring:?}"
        );
        // Every SYN-ACK came on its SYN's ring (the reading thread checks it).
        assert!(!stderr.contains("different rings"), "{stderr}");

        // The same packets read back from the file, in one thread: the same report.
        let out = run_ok(
            Command::new(BIN)
                .args(["read", "--json", "-p", "80", "-p", "81", "--threads", "1"])
                .arg(&pcap),
        );
        let from_file = json_lines(&String::from_utf8_lossy(&out));
        assert_eq!(
            normalized(&from_file),
            normalized(&records),
            "{threads} threads"
        );
    }
}

fn proc_status(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status")
}

fn status_field<'a>(status: &'a str, name: &str) -> Vec<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

#[test]
fn sudo_runs_drop_to_the_invoking_user_who_owns_the_file() {
    require_root!();
    let ns = Netns::new("sudo");
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let pcap = dir.path().join("mine.pcap");
    let mut cmd = ns.command(BIN);
    cmd.env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534")
        .args(["live", "lo", "-V", "-q", "--duration", "2", "-w"])
        .arg(&pcap);
    let mut live = Live::start(cmd);
    live.wait_capturing();
    // Privileges are gone before the capture starts.
    let st = proc_status(live.pid());
    assert_eq!(status_field(&st, "Uid"), ["65534"; 4], "{st}");
    assert_eq!(status_field(&st, "Gid"), ["65534"; 4], "{st}");
    assert!(status_field(&st, "Groups").is_empty(), "{st}");
    assert_eq!(status_field(&st, "CapEff"), ["0000000000000000"], "{st}");
    assert_eq!(status_field(&st, "CapPrm"), ["0000000000000000"], "{st}");
    assert_eq!(status_field(&st, "NoNewPrivs"), ["1"], "{st}");
    // Traffic after the drop is still captured and written.
    http_exchange(&ns);
    let (status, _, stderr) = live.finish(Duration::from_secs(15));
    assert!(status.success(), "{status}\n{stderr}");
    assert!(
        stderr.contains("dropped privileges to uid 65534 gid 65534"),
        "{stderr}"
    );
    let meta = std::fs::metadata(&pcap).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    let (_, packets) = read_pcap(&pcap);
    assert!(packets.len() >= 8, "{} packets", packets.len());
}

#[test]
fn root_without_sudo_drops_to_nobody() {
    require_root!();
    let ns = Netns::new("nobody");
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("root.pcap");
    let mut cmd = ns.command(BIN);
    cmd.env_remove("SUDO_UID")
        .env_remove("SUDO_GID")
        .args(["live", "lo", "-q", "--duration", "1", "-w"])
        .arg(&pcap);
    let mut live = Live::start(cmd);
    live.wait_capturing();
    let st = proc_status(live.pid());
    assert_eq!(status_field(&st, "Uid"), ["65534"; 4], "{st}");
    assert_eq!(status_field(&st, "CapEff"), ["0000000000000000"], "{st}");
    let (status, _, stderr) = live.finish(Duration::from_secs(10));
    assert!(status.success(), "{status}\n{stderr}");
    // Created by root, left to root.
    assert_eq!(std::fs::metadata(&pcap).unwrap().uid(), 0);
}

/// `sockscope live lo --duration 1 -w PATH` in `ns`, as root or, with `sudo_uid`, as if run
/// through sudo by that user.
fn live_write(ns: &Netns, sudo_uid: Option<u32>, path: &Path) -> (Option<i32>, String) {
    let mut cmd = ns.command(BIN);
    match sudo_uid {
        Some(uid) => cmd
            .env("SUDO_UID", uid.to_string())
            .env("SUDO_GID", uid.to_string()),
        None => cmd.env_remove("SUDO_UID").env_remove("SUDO_GID"),
    };
    let out = cmd
        .args(["live", "lo", "-q", "--duration", "1", "-w"])
        .arg(path)
        .output()
        .expect("spawn");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn write_never_touches_a_file_the_sudo_user_could_not_write() {
    require_root!();
    const UID: u32 = 4242;
    let ns = Netns::new("wsafe");
    let dir = tempfile::tempdir().unwrap();
    // The user owns the directory: only the files' own permissions stand in the way.
    std::os::unix::fs::chown(dir.path(), Some(UID), Some(UID)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = dir.path().join("root-only");
    std::fs::write(&secret, b"secret").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("link.pcap");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(UID), Some(UID)).unwrap();
    let untouched = || {
        let meta = std::fs::metadata(&secret).unwrap();
        assert_eq!(std::fs::read(&secret).unwrap(), b"secret");
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (0, 0, 0o600)
        );
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    };
    for (path, what) in [
        (&secret, "may not write this file"),
        (&link, "symbolic link"),
    ] {
        let (code, stderr) = live_write(&ns, Some(UID), path);
        assert_eq!(code, Some(2), "{}: {stderr}", path.display());
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.starts_with(&format!("sockscope: {}: ", path.display())),
            "{stderr}"
        );
        assert!(stderr.contains(what), "{stderr}");
        untouched();
    }
    assert!(
        live_write(&ns, Some(UID), &secret)
            .1
            .contains("the user who ran sudo (uid 4242)")
    );
    // Root running sockscope itself does not follow the link either.
    let (code, stderr) = live_write(&ns, None, &link);
    assert_eq!(code, Some(2), "{stderr}");
    untouched();

    // What the user may write is written, and belongs to them.
    let new = dir.path().join("new.pcap");
    let own = dir.path().join("own.pcap");
    std::fs::write(&own, vec![b'x'; 10_000]).unwrap();
    std::os::unix::fs::chown(&own, Some(UID), Some(UID)).unwrap();
    for path in [&new, &own] {
        let (code, stderr) = live_write(&ns, Some(UID), path);
        assert_eq!(code, Some(0), "{}: {stderr}", path.display());
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (UID, UID));
        let (link_type, _) = read_pcap(path);
        assert_eq!(link_type, 1);
    }
}

#[test]
fn without_privilege_it_says_how_to_get_it() {
    require_root!();
    let ns = Netns::new("unpriv");
    // A copy the unprivileged user can surely execute.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("sockscope");
    std::fs::copy(BIN, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = bin.to_str().unwrap().to_string();
    let mut cmd = if have("setpriv", "--version") {
        let mut c = ns.command("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", &bin]);
        c
    } else {
        let mut c = ns.command("runuser");
        c.args(["-u", "nobody", "--", &bin]);
        c
    };
    let out = cmd.args(["live", "lo"]).output().expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("sudo"), "{stderr}");
    assert!(
        stderr.contains("setcap cap_net_raw,cap_net_admin+ep"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_interface_lists_the_real_ones() {
    // Needs no privilege: the name is checked before anything else.
    let out = Command::new(BIN)
        .args(["live", "nosuchif0"])
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("sockscope: nosuchif0: no such interface; available: any, "),
        "{stderr}"
    );
    assert!(stderr.contains("lo"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn bad_limits_are_usage_errors() {
    for args in [
        &["live", "lo", "--duration", "0"][..],
        &["live", "lo", "--duration=-3"],
        &["live", "lo", "-c", "0"],
    ] {
        let out = Command::new(BIN).args(args).output().expect("spawn");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("sockscope: "), "{stderr}");
    }
}

#[test]
fn unwritable_output_file_is_reported() {
    require_root!();
    let ns = Netns::new("nofile");
    let out = ns
        .command(BIN)
        .args(["live", "lo", "-w", "/nonexistent-dir/x.pcap"])
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent-dir/x.pcap"), "{stderr}");
    assert!(stderr.contains("no such file or directory"), "{stderr}");
    assert!(!stderr.contains("os error"), "{stderr}");
}

#[test]
fn a_followed_flow_that_never_appeared_exits_2_like_read() {
    require_root!();
    let ns = Netns::new("noflow");
    for view in ["--ladder", "--follow"] {
        let out = ns
            .command(BIN)
            .args(["live", "lo", view, "3", "--duration", "0.3"])
            .output()
            .expect("spawn");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{view}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert_eq!(
            last, "sockscope: flow 3 is not in the capture: no flow was analyzed",
            "{stderr}"
        );
    }
}

#[test]
fn interface_that_vanishes_ends_the_capture_with_a_report() {
    require_root!();
    let ns = Netns::new("gone");
    ns.ip(&[
        "link", "add", "sst-a", "type", "veth", "peer", "name", "sst-b",
    ]);
    ns.ip(&["link", "set", "sst-a", "up"]);
    ns.ip(&["link", "set", "sst-b", "up"]);
    let mut cmd = ns.command(BIN);
    cmd.args(["live", "sst-a", "--json"]);
    let mut live = Live::start(cmd);
    live.wait_capturing();
    ns.ip(&["link", "del", "sst-a"]);
    let (status, stdout, stderr) = live.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sst-a: interface went down"), "{stderr}");
    assert!(stderr.contains("sst-a: 0 packets captured"), "{stderr}");
    // The report still came out.
    let records = json_lines(&stdout);
    assert_eq!(of_type(&records, "summary").len(), 1, "{stdout}");
}

#[test]
fn a_down_interface_is_refused() {
    require_root!();
    let ns = Netns::new("down");
    ns.ip(&["link", "set", "lo", "down"]);
    let out = ns
        .command(BIN)
        .args(["live", "lo"])
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("lo: interface is down"), "{stderr}");
}

#[test]
fn a_ring_buffer_switches_files_and_keeps_the_last_ones() {
    require_root!();
    let ns = Netns::new("ring");
    let dir = tempfile::tempdir().unwrap();
    // The files after the first are made by the user the capture drops to (nobody here, as
    // tcpdump -C -Z): the directory must be theirs to write.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let pcap = dir.path().join("out.pcap");
    let mut cmd = ns.command(BIN);
    cmd.args([
        "live",
        "lo",
        "--json",
        "-b",
        "filesize:1",
        "-b",
        "files:2",
        "-w",
    ])
    .arg(&pcap)
    .args(["--duration", "3"]);
    let mut live = Live::start(cmd);
    live.wait_capturing();
    websocket_exchange(&ns);
    let (status, stdout, stderr) = live.finish(Duration::from_secs(15));
    assert!(status.success(), "{status}\n{stderr}");
    assert!(stderr.contains("ring buffer"), "{stderr}");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}\n{stderr}");
    assert!(!pcap.exists());
    let mut packets = Vec::new();
    for name in &names {
        assert!(
            name.starts_with("out_") && name.ends_with(".pcap"),
            "{name}"
        );
        let path = dir.path().join(name);
        assert!(std::fs::metadata(&path).unwrap().len() <= 1000, "{name}");
        packets.extend(read_pcap(&path).1);
    }
    // The files hold the last packets, in order; the summary counted every packet.
    let records = json_lines(&stdout);
    let total = of_type(&records, "summary")[0]["packets"].as_u64().unwrap();
    assert!(
        (packets.len() as u64) < total,
        "{} of {total}",
        packets.len()
    );
    assert!(packets.windows(2).all(|w| w[0].0 <= w[1].0));
    let numbers: Vec<u64> = names
        .iter()
        .map(|n| n[4..9].parse().expect("file number"))
        .collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{names:?}");
    assert!(numbers[0] > 1, "older files were removed: {names:?}");
    let out = ns
        .command(BIN)
        .args(["live", "lo", "-b", "size:3", "-w"])
        .arg(&pcap)
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(2));
}

/// wss:// and https:// live: `live --keylog FILE` follows a key log that the TLS client writes
/// while the capture runs (openssl's `-keylogfile`, as browsers write SSLKEYLOGFILE), and
/// decrypts the session: the HTTP exchange inside TLS 1.3 is reported, nothing is missing.
#[test]
fn live_follows_a_key_log_written_while_it_captures() {
    require_root!();
    if !have("openssl", "version") {
        if common::skipping_forbidden() {
            panic!("openssl is not installed");
        }
        common::skip("openssl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, keys) = (
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
        dir.path().join("keys.log"),
    );
    run_ok(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=sockscope.test", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    // One thread, and two rings with their workers (which share the followed key log).
    for threads in ["1", "2"] {
        // The key log exists, empty, when the capture starts: its lines come during it.
        std::fs::write(&keys, b"").unwrap();
        let ns = Netns::new("tls");
        let mut server = ns.command("openssl");
        server
            .args([
                "s_server", "-accept", "443", "-naccept", "1", "-www", "-tls1_3",
            ])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut server = server.spawn().expect("openssl s_server");
        let mut cmd = ns.command(BIN);
        cmd.args([
            "live",
            "lo",
            "--json",
            "--duration",
            "4",
            "--threads",
            threads,
        ])
        .arg("--keylog")
        .arg(&keys);
        let mut live = Live::start(cmd);
        live.wait_capturing();
        thread::sleep(Duration::from_millis(300));
        let mut client = ns.command("openssl");
        client
            .args(["s_client", "-connect", "127.0.0.1:443", "-quiet", "-tls1_3"])
            .args([
                "-alpn",
                "http/1.1",
                "-servername",
                "sockscope.test",
                "-keylogfile",
            ])
            .arg(&keys)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut client = client.spawn().expect("openssl s_client");
        client
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"GET /status HTTP/1.1\r\nHost: sockscope.test\r\n\r\n")
            .expect("request");
        let out = client.wait_with_output().expect("s_client");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("HTTP/1.0 200"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let _ = server.kill();
        let _ = server.wait();
        let (status, stdout, stderr) = live.finish(Duration::from_secs(15));
        assert!(status.success(), "{status}\n{stderr}");
        let records = json_lines(&stdout);
        let lines: Vec<String> = of_type(&records, "http")
            .iter()
            .map(|h| {
                format!(
                    "{} {}",
                    h["method"].as_str().unwrap_or(""),
                    h["status"]
                        .as_u64()
                        .map(|s| s.to_string())
                        .unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(lines, ["GET ", " 200"], "{stdout}");
        let codes: Vec<&str> = of_type(&records, "anomaly")
            .iter()
            .filter_map(|a| a["code"].as_str())
            .collect();
        assert!(!codes.contains(&"tls.missing_secrets"), "{stdout}");
        let flow = of_type(&records, "flow")
            .into_iter()
            .find(|f| f["tls"].is_object())
            .unwrap_or_else(|| panic!("no TLS flow: {stdout}"));
        assert_eq!(flow["kind"], "http");
        assert_eq!(flow["tls"]["version"], "TLS 1.3");
        assert_eq!(flow["tls"]["sni"], "sockscope.test");
        assert_eq!(flow["tls"]["decrypted"], true);
    }
}
