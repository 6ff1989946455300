//! The header-overhead numbers of `captures/ws-chat.pcap`, computed by hand two ways and checked
//! against what sockscope prints (`--json` summary and the `-q` table):
//!
//! 1. from the peers' own message list (`captures/expected/ws-chat.json`) and RFC 6455's header
//!    sizes — always runs;
//! 2. from the capture's fields as tshark decodes them — skipped, saying why, without tshark
//!    (a failure under `.ci/run`).
//!
//! Definitions (docs/overhead.md): payload = WebSocket frame payloads (control frames included)
//! plus HTTP bodies; L7 headers = upgrade request head, 101 head and every frame header (2 bytes,
//! 4 more for the client's masking key, 2 or 8 more for the 16/64-bit extended length);
//! messages = data messages (text/binary), the handshake and control frames not counted;
//! TCP/IP headers = IP and TCP header bytes of every packet of the flow.

mod common;

use common::require_tshark;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");
const CAPTURE: &str = "captures/ws-chat.pcap";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What sockscope reports for the capture.
struct Reported {
    messages: u64,
    payload: u64,
    l7: u64,
    tcpip: u64,
    what_if_http: u64,
    table: String,
}

fn reported() -> Reported {
    let out = Command::new(BIN)
        .args(["read", "--json", CAPTURE])
        .current_dir(root())
        .output()
        .expect("run sockscope");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let summary: Value =
        serde_json::from_str(text.lines().last().expect("summary line")).expect("summary is JSON");
    let rows = summary["overhead"].as_array().expect("overhead rows");
    assert_eq!(rows.len(), 1, "one flow kind: {rows:?}");
    let ws = &rows[0];
    assert_eq!(ws["kind"], "websocket");
    assert_eq!(ws["flows"], 1);
    let what_if = &summary["what_if"][0];
    assert_eq!(what_if["flow"], 1);
    let table = Command::new(BIN)
        .args(["read", "-q", "--color", "never", CAPTURE])
        .current_dir(root())
        .output()
        .expect("run sockscope -q");
    let n = |v: &Value| v.as_u64().expect("a count");
    Reported {
        messages: n(&ws["messages"]),
        payload: n(&ws["payload_bytes"]),
        l7: n(&ws["l7_header_bytes"]),
        tcpip: n(&ws["tcpip_header_bytes"]),
        what_if_http: n(&what_if["http_l7_header_bytes"]),
        table: String::from_utf8(table.stdout).expect("UTF-8"),
    }
}

/// RFC 6455 §5.2: 2 bytes, the extended length, the masking key.
fn frame_header_len(payload: u64, masked: bool) -> u64 {
    let ext = match payload {
        0..=125 => 0,
        126..=65535 => 2,
        _ => 8,
    };
    2 + ext + if masked { 4 } else { 0 }
}

#[test]
fn ws_chat_overhead_from_the_peers_message_list() {
    let expected: Value = serde_json::from_slice(
        &std::fs::read(root().join("captures/expected/ws-chat.json")).expect("expected file"),
    )
    .expect("JSON");
    let ws = &expected["websocket"][0];
    // Every message and control frame each side sent (one frame each: `frames` is 1 throughout),
    // then the close frames: 2-byte code + reason.
    let mut payload = 0;
    let mut frame_headers = 0;
    let mut messages = 0;
    for (side, masked) in [("client_to_server", true), ("server_to_client", false)] {
        for m in ws[side].as_array().expect("message list") {
            assert_eq!(m["frames"], 1, "ws-chat sends no fragmented message");
            let len = m["len"].as_u64().expect("len");
            payload += len;
            frame_headers += frame_header_len(len, masked);
            if matches!(m["opcode"].as_str(), Some("text" | "binary")) {
                messages += 1;
            }
        }
    }
    for (dir, masked) in [("c2s", true), ("s2c", false)] {
        let reason = ws["close"][dir][1].as_str().expect("close reason");
        let len = 2 + reason.len() as u64;
        payload += len;
        frame_headers += frame_header_len(len, masked);
    }
    // Client: "hello" 5, 16 binary, ping 13, "push 2" 6, pong 8, "bye soon" 8, close 5 = 61;
    // server: 11, 16, pong 13, 59, 59, ping 8, 6, 14, close 5 = 191.
    assert_eq!(payload, 61 + 191);
    // 7 client frames × 6 bytes + 9 server frames × 2 bytes.
    assert_eq!(frame_headers, 7 * 6 + 9 * 2);
    assert_eq!(messages, 4 + 6);
    // The upgrade heads, start line to blank line, as sent: tshark shows them as the whole TCP
    // payload of packets 6 (186 bytes) and 8 (236 bytes), neither with a body.
    let handshake = 186 + 236;
    // TCP/IP: IPv4 headers of 20 bytes; TCP headers of 40 bytes on SYN and SYN-ACK (MSS,
    // SACK_PERM, timestamps, window scale) and 32 bytes on every other packet (NOP, NOP,
    // timestamps). The connection is packets 3-31 (1 and 2 are ARP), 29 packets as tshark's
    // `-z conv,tcp` counts them: the last ACK (packet 31), after both FINs (29 and 30), is
    // the flow's too (src/tcp/mod.rs, "Closing"). So 2 × (20 + 40) + 27 × (20 + 32).
    let tcpip = 2 * 60 + 27 * 52;
    assert_eq!(tcpip, 1524);

    let r = reported();
    assert_eq!(r.payload, 252);
    assert_eq!(r.payload, payload);
    assert_eq!(r.l7, handshake + frame_headers);
    assert_eq!(r.l7, 482);
    assert_eq!(r.messages, messages);
    assert_eq!(r.tcpip, tcpip);
    // What if over HTTP: every message as a request + response with heads as large as the
    // upgrade's: 10 × 422.
    assert_eq!(r.what_if_http, messages * handshake);
    assert_eq!(r.what_if_http, 4220);
    // The table shows the same numbers: overhead 482 / 252 = 191.3 %, 48.2 header bytes per
    // message.
    let row = r
        .table
        .lines()
        .find(|l| l.starts_with("│ websocket ┆"))
        .expect("websocket row");
    let cells: Vec<&str> = row.trim_matches('│').split('┆').map(str::trim).collect();
    assert_eq!(
        cells,
        [
            "websocket",
            "1",
            "10",
            "252",
            "482",
            "48.2",
            "1524",
            "191.3%"
        ],
        "{row}"
    );
    assert!(
        r.table.contains(
            "as HTTP: 10 × 422 B (heads as large as its upgrade request + 101) = 4220 B, 8.8× more"
        ),
        "{}",
        r.table
    );
}

/// Comma-separated tshark field values (several frames in one packet), as numbers.
fn numbers(field: &str) -> Vec<u64> {
    field
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or_else(|e| panic!("`{s}`: {e}")))
        .collect()
}

#[test]
fn ws_chat_overhead_from_tshark() {
    require_tshark!();
    let out = Command::new("tshark")
        .args([
            "-r",
            CAPTURE,
            "-Y",
            "tcp.stream == 0",
            "-T",
            "fields",
            "-E",
            "aggregator=,",
            "-e",
            "ip.hdr_len",
            "-e",
            "tcp.hdr_len",
            "-e",
            "tcp.len",
            "-e",
            "tcp.flags.fin",
            "-e",
            "http.request",
            "-e",
            "http.response",
            "-e",
            "websocket.opcode",
            "-e",
            "websocket.mask",
            "-e",
            "websocket.payload_length",
            "-e",
            "websocket.payload_length_ext_16",
            "-e",
            "websocket.payload_length_ext_64",
            "-e",
            "websocket.fin",
        ])
        .current_dir(root())
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let (mut tcpip, mut handshake, mut payload, mut frame_headers, mut messages) = (0, 0, 0, 0, 0);
    let mut fins = 0;
    let mut after_fins = 0;
    for line in text.lines() {
        // Every packet of the connection counts, the last ACK after both FINs included.
        if fins == 2 {
            after_fins += 1;
        }
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 12, "{line}");
        tcpip += numbers(f[0])[0] + numbers(f[1])[0];
        if numbers(f[3])[0] == 1 {
            fins += 1;
        }
        if !f[4].is_empty() || !f[5].is_empty() {
            // The upgrade request and the 101 have no body: the TCP payload is the head.
            handshake += numbers(f[2])[0];
        }
        let opcodes = numbers(f[6]);
        let masks = numbers(f[7]);
        let lens7 = numbers(f[8]);
        let (mut ext16, mut ext64) = (numbers(f[9]).into_iter(), numbers(f[10]).into_iter());
        let fin = numbers(f[11]);
        for (i, &op) in opcodes.iter().enumerate() {
            let len = match lens7[i] {
                126 => ext16.next().expect("16-bit length"),
                127 => ext64.next().expect("64-bit length"),
                n => n,
            };
            payload += len;
            frame_headers += frame_header_len(len, masks[i] == 1);
            if (op == 1 || op == 2) && fin[i] == 1 {
                messages += 1;
            }
        }
    }
    assert_eq!(fins, 2, "the connection closes inside the capture");
    assert_eq!(after_fins, 1, "the last ACK follows the FINs");
    let r = reported();
    assert_eq!(r.payload, payload);
    assert_eq!(r.l7, handshake + frame_headers);
    assert_eq!(r.messages, messages);
    assert_eq!(r.tcpip, tcpip);
    assert_eq!(r.what_if_http, messages * handshake);
}
