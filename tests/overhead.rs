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
    what_if: Value,
    http: Vec<Value>,
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
        what_if: what_if.clone(),
        http: text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
            .filter(|r| r["type"] == "http")
            .collect(),
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
    check_what_if(&r, ws);
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
            "52.6",
            "191.3%"
        ],
        "{row}"
    );
}

/// The "what if over HTTP" comparison recomputed from the upgrade heads' header lists and the
/// peers' message list (docs/overhead.md): heads without their WebSocket headers; the client's
/// 4 messages as POSTs (one byte longer than the GET) answered by a 204; the server's 6 by long
/// polling (a GET and a 200 each), short polling (one 1 s poll: the flow lasts 0.154 s) and as
/// Server-Sent Events; every body with a `Content-Length: N` line.
fn check_what_if(r: &Reported, ws: &Value) {
    let line = |name: &str, value: &str| (name.len() + 2 + value.len() + 2) as u64;
    let websocket_lines = |m: &Value| -> u64 {
        m["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .map(|h| (h[0].as_str().expect("name"), h[1].as_str().expect("value")))
            .filter(|(n, _)| {
                let n = n.to_ascii_lowercase();
                n == "upgrade" || n == "connection" || n.starts_with("sec-websocket-")
            })
            .map(|(n, v)| line(n, v))
            .sum()
    };
    let (upgrade, switching) = (&r.http[0], &r.http[1]);
    assert_eq!(switching["status"], 101);
    let get = upgrade["header_bytes"].as_u64().expect("head") - websocket_lines(upgrade);
    // GET /chat HTTP/1.1, Host: 192.0.2.80, the blank line.
    assert_eq!(get, 20 + 18 + 2);
    let status_101 = "HTTP/1.1 101 Switching Protocols\r\n".len() as u64;
    let rest =
        switching["header_bytes"].as_u64().expect("head") - websocket_lines(switching) - status_101;
    let (ok, no_content) = (rest + 17, rest + 25);
    let digits = |n: u64| n.to_string().len() as u64;
    let data = |side: &str| -> Vec<u64> {
        ws[side]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| matches!(m["opcode"].as_str(), Some("text" | "binary")))
            .map(|m| m["len"].as_u64().expect("len"))
            .collect()
    };
    let (c2s, s2c) = (data("client_to_server"), data("server_to_client"));
    assert_eq!((c2s.len(), s2c.len()), (4, 6));
    let content_length = |lens: &[u64]| lens.iter().map(|&n| 18 + digits(n)).sum::<u64>();
    let client = c2s.len() as u64 * (get + 1 + no_content) + content_length(&c2s);
    let long = client + s2c.len() as u64 * (get + ok) + content_length(&s2c);
    // Every server message falls in the first second: one poll, and it carries them.
    let short = client + get + ok + content_length(&s2c);
    let chunk = |n: u64| format!("{n:x}").len() as u64 + 4;
    let events: u64 = s2c.iter().map(|&n| 8 + chunk(8 + n)).sum();
    let sse = client + get + ok + 33 + 28 + events + 5;
    let w = &r.what_if;
    assert_eq!(w["head_source"], "upgrade");
    assert_eq!(w["request_head_bytes"], get);
    assert_eq!(w["response_head_bytes"], ok);
    assert_eq!(w["minimal_response_head_bytes"], no_content);
    let carriers = w["carriers"].as_array().expect("carriers");
    let cost = |name: &str| {
        carriers
            .iter()
            .find(|c| c["carrier"] == name)
            .unwrap_or_else(|| panic!("{name}: {w}"))
    };
    assert_eq!(cost("websocket")["l7_header_bytes"], 482);
    assert_eq!(cost("long_polling")["l7_header_bytes"], long);
    assert_eq!(r.what_if_http, long);
    assert_eq!(cost("short_polling")["l7_header_bytes"], short);
    assert_eq!(cost("short_polling")["requests"], 4 + 1);
    assert_eq!(cost("sse")["l7_header_bytes"], sse);
    assert_eq!(cost("sse")["requests"], 4 + 1);
    // The table says the same, with the ratio in words, rounded as the JSON's.
    for (name, label) in [
        ("short_polling", "short polling (1 s)"),
        ("long_polling", "long polling"),
        ("sse", "SSE + POSTs"),
    ] {
        let c = cost(name);
        let l7 = c["l7_header_bytes"].as_u64().expect("bytes");
        let ratio = format!("{:.1}", l7 as f64 / 482.0);
        assert_eq!(c["ratio"].to_string(), ratio);
        let row = r
            .table
            .lines()
            .find(|l| l.starts_with(&format!("│ {label} ")))
            .unwrap_or_else(|| panic!("{label}: {}", r.table));
        let cells: Vec<&str> = row.trim_matches('│').split('┆').map(str::trim).collect();
        assert_eq!(cells[2], l7.to_string(), "{row}");
        assert_eq!(cells[3], format!("{ratio}× as many header bytes"), "{row}");
    }
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
    assert!(handshake > 0 && r.what_if_http > handshake);
}

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(root())
        .output()
        .expect("run sockscope");
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The cells of the table row that starts with `label`.
fn row_cells(table: &str, label: &str) -> Vec<String> {
    let row = table
        .lines()
        .find(|l| {
            l.trim_start_matches('│')
                .split('┆')
                .next()
                .is_some_and(|c| c.trim() == label)
        })
        .unwrap_or_else(|| panic!("no `{label}` row in\n{table}"));
    row.trim_matches('│')
        .split('┆')
        .map(|c| c.trim().to_string())
        .collect()
}

#[test]
fn each_server_sent_event_is_a_message_and_its_field_names_are_framing() {
    let table = run(&["read", "-q", "--color", "never", "captures/sse.pcap"]);
    // flow, kind, client, server, duration, msgs c→s, msgs s→c, …
    let flow = row_cells(&table, "1");
    assert_eq!((flow[5].as_str(), flow[6].as_str()), ("1", "5"), "{table}");
    let sse = row_cells(&table, "sse");
    // The GET and five events; their data (17 + 12 + 50 + 23 + 11 bytes) is the payload.
    assert_eq!(&sse[2..4], ["6", "113"], "{table}");
    let json = run(&["read", "--json", "captures/sse.pcap"]);
    let records: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let events: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "sse_event")
        .collect();
    assert_eq!(events.len(), 5);
    let data: u64 = events.iter().map(|e| e["len"].as_u64().expect("len")).sum();
    assert_eq!(data, 113);
    let response = records
        .iter()
        .find(|r| r["type"] == "http" && r["status"] == 200)
        .expect("the stream");
    let request = records
        .iter()
        .find(|r| r["type"] == "http" && r["kind"] == "request")
        .expect("the GET");
    let n = |v: &Value| v.as_u64().expect("count");
    // Everything of the stream that is not event data is framing: heads, chunk framing, field
    // names, line ends, the comment and the retry line.
    let l7 = n(&request["header_bytes"])
        + n(&response["header_bytes"])
        + n(&response["framing_bytes"])
        + n(&response["body_bytes"])
        - data;
    let summary = records.last().expect("summary");
    assert_eq!(summary["overhead"][0]["l7_header_bytes"], l7);
    assert_eq!(summary["overhead"][0]["messages"], 6);
    assert_eq!(sse[4], l7.to_string());
    let flow = records.iter().find(|r| r["type"] == "flow").expect("flow");
    assert_eq!(
        (flow["messages_c2s"].as_u64(), flow["messages_s2c"].as_u64()),
        (Some(1), Some(5))
    );
}

#[test]
fn a_short_conversation_can_be_cheaper_over_http_and_the_table_says_so() {
    let capture = "captures/bad/ws-masked-server-frame.pcap";
    let table = run(&["read", "-q", "--color", "never", capture]);
    let json = run(&["read", "--json", capture]);
    let summary: Value = serde_json::from_str(json.lines().last().expect("summary")).expect("JSON");
    let long = summary["what_if"][0]["carriers"]
        .as_array()
        .expect("carriers")
        .iter()
        .find(|c| c["carrier"] == "long_polling")
        .expect("long polling")
        .clone();
    let ratio = long["ratio"].as_f64().expect("ratio");
    assert!(ratio < 0.95, "{long}");
    let cells = row_cells(&table, "long polling");
    assert_eq!(
        cells[3],
        format!("HTTP would be cheaper here ({ratio:.1}×)"),
        "{table}"
    );
    assert!(!table.contains("× more"), "{table}");
}

#[test]
fn short_polling_pays_for_every_poll_at_the_interval_asked_for() {
    // ws-lossy lasts long enough for the interval to matter.
    let cost = |interval: &str| -> (u64, u64) {
        let json = run(&[
            "read",
            "--json",
            "--poll-interval",
            interval,
            "captures/ws-lossy.pcap",
        ]);
        let summary: Value =
            serde_json::from_str(json.lines().last().expect("summary")).expect("JSON");
        let w = &summary["what_if"][0];
        assert_eq!(w["poll_interval"].as_f64(), interval.parse().ok());
        let short = w["carriers"]
            .as_array()
            .expect("carriers")
            .iter()
            .find(|c| c["carrier"] == "short_polling")
            .expect("short polling")
            .clone();
        (
            short["requests"].as_u64().expect("requests"),
            short["l7_header_bytes"].as_u64().expect("bytes"),
        )
    };
    let (slow, fast) = (cost("1"), cost("0.01"));
    assert!(fast.0 > slow.0 && fast.1 > slow.1, "{slow:?} {fast:?}");
}

#[test]
fn ping_round_trips_agree_to_the_last_digit_in_text_and_json() {
    let mut seen = 0;
    for capture in [
        "captures/ws-chat.pcap",
        "captures/chromium-ws.pcap",
        "captures/ws-fragmented.pcap",
        "captures/ws-deflate.pcap",
        "captures/ws-lossy.pcap",
    ] {
        let json = run(&["read", "--json", capture]);
        let table = run(&["read", "-q", "--color", "never", capture]);
        let follow_flows: Vec<Value> = json
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
            .filter(|r| r["type"] == "flow")
            .collect();
        for flow in follow_flows {
            let Some(ms) = flow["ping_rtt_ms"].as_f64() else {
                continue;
            };
            let id = flow["flow"].to_string();
            let cells = row_cells(&table, &id);
            assert_eq!(cells[7], format!("{ms:.3} ms"), "{capture} flow {id}");
            let follow = run(&["read", "--follow", &id, "--color", "never", capture]);
            assert!(
                follow.contains(&format!("ping RTT {ms:.3} ms")),
                "{capture} flow {id}: {follow}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 3, "flows with pings: {seen}");
}
