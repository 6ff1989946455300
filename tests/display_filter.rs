//! `-Y`/`--filter`, `--filter-flows`, `-T fields`, `-O` and `read -w` through the binary on the
//! bundled captures: the examples of docs/filter.md find what the captures hold in every view,
//! the tables keep only the flows in which something matched, `-T fields` agrees with tshark's
//! `-T fields` where the fields are the same, and `-w` writes a pcap that sockscope and tshark
//! read back as the selected flows.

mod common;

use common::{capture, sockscope};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

/// `sockscope read ARGS… FILE`.
fn read(file: &str, args: &[&str]) -> common::Run {
    let mut all: Vec<OsString> = vec!["read".into()];
    all.extend(args.iter().map(OsString::from));
    all.push(capture(file).into());
    sockscope(&all)
}

/// The JSON records `read --json -Y FILTER` writes (the summary left out), with their types.
fn matches(file: &str, filter: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["--json", "-Y", filter];
    args.extend_from_slice(extra);
    let run = read(file, &args);
    let mut records = run.report().records;
    let summary = records.pop().expect("a summary");
    assert_eq!(summary["type"], "summary");
    records
}

fn types(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["type"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_examples_find_what_the_captures_hold() {
    let api = "api-errors.pcap";
    // Both texts with "error", as frames and as messages, in flow 2 only.
    let r = matches(api, "ws.opcode == text && ws.text contains \"error\"", &[]);
    assert_eq!(
        types(&r),
        ["ws_frame", "ws_message", "ws_frame", "ws_message"],
        "{r:?}"
    );
    assert!(
        r.iter()
            .all(|x| x["flow"] == 2 && x["preview"].as_str().unwrap().contains("error"))
    );
    // The 500 and the 503.
    let r = matches(api, "http.status >= 500", &[]);
    let statuses: Vec<u64> = r.iter().map(|x| x["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [500, 503]);
    // The two POSTs to /api/ (not the POST to /echo).
    let r = matches(
        api,
        "http.method == \"POST\" && http.uri matches \"^/api/\"",
        &[],
    );
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|x| x["target"] == "/api/orders"));
    // Every record of the SSE flow, the request before the kind was known included.
    let all = common::read_json(&capture("sse.pcap"), &[]).records.len() - 1;
    assert_eq!(matches("sse.pcap", "flow.kind == sse", &[]).len(), all);
    assert!(matches(api, "flow.kind == sse", &[]).is_empty());
    // The frames over 64 KiB: 65536 and 200000 bytes, each way.
    let r = matches("ws-lengths.pcap", "ws.payload_len > 65535", &[]);
    let lens: Vec<u64> = r
        .iter()
        .map(|x| x["payload_len"].as_u64().unwrap())
        .collect();
    assert_eq!(lens, [65536, 65536, 200000, 200000]);
    // Error anomalies: one per bad capture that has one.
    let r = matches(
        "bad/ws-masked-server-frame.pcap",
        "anomaly.severity == error",
        &[],
    );
    assert_eq!(types(&r), ["anomaly"]);
    assert_eq!(r[0]["code"], "ws.masked_server_frame");
    // A planned field type-checks and matches nothing yet.
    assert!(matches(api, "tls.sni contains \"example\"", &[]).is_empty());
}

#[test]
fn a_flow_record_is_written_when_it_matches_itself() {
    let r = matches("api-errors.pcap", "flow.bytes > 1000", &[]);
    assert_eq!(types(&r), ["flow"]);
    assert_eq!(r[0]["id"], 1);
    // --kind joins the filter.
    let r = matches("api-errors.pcap", "http", &["--kind", "websocket"]);
    assert_eq!(types(&r), ["http", "http"]);
    assert!(r.iter().all(|x| x["flow"] == 2));
}

#[test]
fn the_text_view_keeps_only_what_matched_and_says_how_much() {
    let run = read("api-errors.pcap", &["-Y", "http.status >= 500"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()) && l.contains(" → "))
        .collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].contains("500 Internal Server Error"));
    assert!(lines[1].contains("503 Service Unavailable"));
    assert!(
        run.stdout.contains("Flows (1 flow, 34 packets)"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("websocket"), "{}", run.stdout);
    assert!(
        run.stdout
            .ends_with("filter: 1 of 2 flows matched http.status >= 500\n"),
        "{}",
        run.stdout
    );
    // -q: only the tables, of the kept flows.
    let run = read("api-errors.pcap", &["-q", "-Y", "ws"]);
    assert!(
        run.stdout.starts_with("Flows (1 flow, 34 packets)"),
        "{}",
        run.stdout
    );
    // Anomalies the filter leaves out are counted in the note.
    let run = read("bad/ws-gap.pcap", &["-Y", "anomaly.severity == error"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("not shown"), "{}", run.stdout);
}

#[test]
fn filter_flows_shows_whole_flows() {
    let run = read(
        "api-errors.pcap",
        &[
            "--json",
            "--filter-flows",
            "-Y",
            "ws.text contains \"disk\"",
        ],
    );
    let records = run.report().records;
    let flows: std::collections::BTreeSet<u64> = records
        .iter()
        .filter_map(|r| r["flow"].as_u64().or(r["id"].as_u64()))
        .collect();
    assert_eq!(flows.into_iter().collect::<Vec<_>>(), [2]);
    // Every record of flow 2, as without a filter.
    let all = common::read_json(&capture("api-errors.pcap"), &[]);
    let of_flow_2 = all
        .records
        .iter()
        .filter(|r| r["flow"] == 2 || r["id"] == 2)
        .count();
    assert_eq!(records.len() - 1, of_flow_2);
    // --filter-flows needs -Y.
    let run = read("api-errors.pcap", &["--filter-flows"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn refused_filters_and_fields_say_where_and_what() {
    let run = read(
        "api-errors.pcap",
        &["-Y", "http.status >= 500 && ws.opcode =="],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("-Y: filter: 1:35: expected a value after `==`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("\n                                    ^"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    let run = read("api-errors.pcap", &["-Y", "http.stauts == 200"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("http.status"), "{}", run.stderr);
    let run = read("api-errors.pcap", &["-T", "fields", "-e", "http.stauts"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("did you mean `http.status`"),
        "{}",
        run.stderr
    );
    let run = read(
        "api-errors.pcap",
        &["-T", "fields", "-e", "http.method", "--json"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = read(
        "api-errors.pcap",
        &["-T", "fields", "-e", "http.method", "-E", "colour=y"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = read("api-errors.pcap", &["-V", "-O", "dns"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no such layer"), "{}", run.stderr);
    // check takes --forbid, not -Y.
    let run = sockscope(&["check", "-Y", "ws", "captures/api-errors.pcap"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--forbid"), "{}", run.stderr);
    // live checks the filter before it opens anything.
    let run = sockscope(&["live", "-Y", "ws.opcode ==", "lo"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("-Y: filter: 1:13"), "{}", run.stderr);
}

#[test]
fn only_layers_limits_the_tree() {
    let run = read(
        "api-errors.pcap",
        &["-V", "-O", "ws", "-Y", "ws.opcode == close && dir == c2s"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("    WebSocket\n"), "{}", run.stdout);
    for other in [
        "Frame ",
        "Ethernet II",
        "Internet Protocol",
        "Transmission Control",
    ] {
        assert!(!run.stdout.contains(other), "{other}: {}", run.stdout);
    }
    let run = read(
        "api-errors.pcap",
        &["-V", "-O", "ip,tcp", "-Y", "http.status == 503"],
    );
    assert!(run.stdout.contains("Internet Protocol Version 4"));
    assert!(run.stdout.contains("Transmission Control Protocol"));
    assert!(!run.stdout.contains("Hypertext Transfer Protocol"));
    // -O is for -V.
    let run = read("api-errors.pcap", &["-O", "ws"]);
    assert_eq!(run.code, 2);
}

/// tshark's `-T fields` lines, one per packet.
fn tshark_fields(file: &Path, filter: &str, fields: &[&str], extra: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(file)
        .args(extra)
        .args(["-Y", filter, "-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = common::run_ok(&mut cmd);
    String::from_utf8(out)
        .expect("UTF-8")
        .lines()
        .map(str::to_string)
        .collect()
}

/// sockscope's `-T fields` lines grouped by packet as tshark prints them: the values of the
/// records one packet completed, joined by commas, the packet's own fields once.
fn by_packet(stdout: &str, shared: usize) -> Vec<String> {
    let mut packets: BTreeMap<u64, Vec<Vec<String>>> = BTreeMap::new();
    for line in stdout.lines() {
        let cols: Vec<String> = line.split('\t').map(str::to_string).collect();
        let frame: u64 = cols[0].parse().expect("a packet number");
        packets.entry(frame).or_default().push(cols);
    }
    packets
        .values()
        .map(|rows| {
            let mut out: Vec<String> = rows[0][..shared].to_vec();
            for c in shared..rows[0].len() {
                let vals: Vec<&str> = rows
                    .iter()
                    .map(|r| r[c].as_str())
                    .filter(|v| !v.is_empty())
                    .collect();
                out.push(vals.join(","));
            }
            out.join("\t")
        })
        .collect()
}

#[test]
fn fields_agree_with_tshark_fields() {
    if let Err(why) = common::tshark() {
        common::skip(why);
        return;
    }
    // HTTP requests: packet, stream, method, target.
    for file in ["api-errors.pcap", "http-keepalive.pcap", "ws-chat.pcap"] {
        let path = capture(file);
        let ours = read(
            file,
            &[
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "tcp.stream",
                "-e",
                "http.method",
                "-e",
                "http.uri",
                "-Y",
                "http.request",
            ],
        );
        assert_eq!(ours.code, 0, "{}", ours.stderr);
        let theirs = tshark_fields(
            &path,
            "http.request",
            &[
                "frame.number",
                "tcp.stream",
                "http.request.method",
                "http.request.uri",
            ],
            &[],
        );
        assert_eq!(by_packet(&ours.stdout, 2), theirs, "{file}: requests");
        // Responses: packet, stream, status.
        let ours = read(
            file,
            &[
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "tcp.stream",
                "-e",
                "http.status",
                "-Y",
                "http.response",
            ],
        );
        let theirs = tshark_fields(
            &path,
            "http.response",
            &["frame.number", "tcp.stream", "http.response.code"],
            &[],
        );
        assert_eq!(by_packet(&ours.stdout, 2), theirs, "{file}: responses");
    }
    // WebSocket frames: packet, stream, declared length, FIN, mask bit.
    for file in ["api-errors.pcap", "ws-chat.pcap", "ws-lengths.pcap"] {
        let ours = read(
            file,
            &[
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "tcp.stream",
                "-e",
                "ws.payload_len",
                "-e",
                "ws.fin",
                "-e",
                "ws.masked",
                "-Y",
                "record.type == ws_frame",
            ],
        );
        assert_eq!(ours.code, 0, "{}", ours.stderr);
        let theirs = tshark_fields(
            &capture(file),
            "websocket",
            &[
                "frame.number",
                "tcp.stream",
                "websocket.payload_length",
                "websocket.fin",
                "websocket.mask",
            ],
            &[],
        );
        // tshark's payload_length is the 7-bit field: 126 and 127 stand for longer lengths.
        let ours = by_packet(&ours.stdout, 2);
        assert_eq!(ours.len(), theirs.len(), "{file}: {ours:?} {theirs:?}");
        for (o, t) in ours.iter().zip(&theirs) {
            let (o, t): (Vec<&str>, Vec<&str>) = (o.split('\t').collect(), t.split('\t').collect());
            assert_eq!(o[..2], t[..2], "{file}: packet and stream");
            assert_eq!(o[3..], t[3..], "{file}: FIN and MASK of packet {}", o[0]);
            for (ol, tl) in o[2].split(',').zip(t[2].split(',')) {
                let tl: u64 = tl.parse().expect("a length");
                let ol: u64 = ol.parse().expect("a length");
                match tl {
                    126 => assert!((126..=0xffff).contains(&ol), "{file}: {ol}"),
                    127 => assert!(ol > 0xffff, "{file}: {ol}"),
                    n => assert_eq!(ol, n, "{file}: packet {}", o[0]),
                }
            }
        }
    }
}

#[test]
fn tcp_stream_is_tsharks_when_every_connection_is_analyzed() {
    if let Err(why) = common::tshark() {
        common::skip(why);
        return;
    }
    for file in [
        "two-links.pcapng",
        "ws-port8080.pcap",
        "http-keepalive.pcap",
    ] {
        let ours = read(
            file,
            &[
                "--any-port",
                "-T",
                "fields",
                "-e",
                "tcp.stream",
                "-e",
                "flow.client",
                "-e",
                "flow.client.port",
                "-Y",
                "record.type == flow",
            ],
        );
        assert_eq!(ours.code, 0, "{}", ours.stderr);
        let mut ours: Vec<String> = ours.stdout.lines().map(str::to_string).collect();
        ours.sort();
        // tshark: the client (SYN sender) of each stream, from its first SYN.
        let mut theirs = tshark_fields(
            &capture(file),
            "tcp.flags.syn == 1 && tcp.flags.ack == 0",
            &["tcp.stream", "ip.src", "tcp.srcport"],
            &[],
        );
        theirs.sort();
        theirs.dedup();
        assert_eq!(ours, theirs, "{file}");
    }
}

#[test]
fn write_exports_the_selected_flows_as_pcap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("flow2.pcap");
    let api = capture("api-errors.pcap");
    let run = sockscope(&[
        "read".as_ref(),
        "-w".as_ref(),
        out.as_os_str(),
        "-Y".as_ref(),
        "ws.text contains \"disk\"".as_ref(),
        api.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("wrote 16 packets of 1 flow to"),
        "{}",
        run.stderr
    );
    // sockscope reads it back as the one WebSocket flow, with every message.
    let back = common::read_json(&out, &[]);
    let flows = back.flows();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[&1]["kind"], "websocket");
    assert_eq!(flows[&1]["ws_messages"], 4);
    assert_eq!(flows[&1]["packets"], 16);
    // tshark too: the same 16 packets, one stream.
    if common::tshark().is_ok() {
        let lines = tshark_fields(&out, "tcp", &["tcp.stream"], &[]);
        assert_eq!(lines.len(), 16);
        assert!(lines.iter().all(|l| l == "0"));
        let texts = tshark_fields(&out, "websocket.opcode == 1", &["frame.number"], &[]);
        assert_eq!(texts.len(), 4);
    } else if let Err(why) = common::tshark() {
        common::skip(why);
    }
    // --flow picks by id; both flows are the whole TCP part of the capture.
    let both = dir.path().join("both.pcap");
    let run = sockscope(&[
        "read".as_ref(),
        "-w".as_ref(),
        both.as_os_str(),
        "--flow".as_ref(),
        "1".as_ref(),
        "--flow".as_ref(),
        "2".as_ref(),
        api.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let back = common::read_json(&both, &[]);
    assert_eq!(back.summary()["flows"], 2);
    let original = common::read_json(&api, &[]);
    for (id, f) in original.flows() {
        assert_eq!(back.flows()[&id]["packets"], f["packets"], "flow {id}");
    }
}

#[test]
fn write_refuses_what_it_should() {
    let dir = tempfile::tempdir().expect("temp dir");
    let api = capture("api-errors.pcap");
    let w = |out: &Path, extra: &[&str]| {
        let mut args: Vec<OsString> = vec!["read".into(), "-w".into(), out.into()];
        args.extend(extra.iter().map(OsString::from));
        args.push(api.clone().into());
        sockscope(&args)
    };
    let out = dir.path().join("x.pcap");
    // Which flows?
    let run = w(&out, &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--flow N"), "{}", run.stderr);
    // A link is never followed, dangling or not.
    let link = dir.path().join("link.pcap");
    std::os::unix::fs::symlink(dir.path().join("elsewhere.pcap"), &link).expect("symlink");
    let run = w(&link, &["--flow", "1"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert!(!dir.path().join("elsewhere.pcap").exists());
    // Not over the input.
    let copy = dir.path().join("in.pcap");
    std::fs::copy(&api, &copy).expect("copy");
    let run = sockscope(&[
        "read".as_ref(),
        "-w".as_ref(),
        copy.as_os_str(),
        "--flow".as_ref(),
        "1".as_ref(),
        copy.as_os_str(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("is the input"), "{}", run.stderr);
    assert_eq!(
        std::fs::read(&copy).expect("read"),
        std::fs::read(&api).expect("read")
    );
    // A flow that is not there.
    let run = w(&out, &["--flow", "9"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("flow 9 is not in the capture"),
        "{}",
        run.stderr
    );
    // With -Y the capture is read twice: not from stdin.
    let run = common::sockscope_with_stdin(
        &[
            "read".as_ref(),
            "-w".as_ref(),
            out.as_os_str(),
            "-Y".as_ref(),
            "ws".as_ref(),
            "-".as_ref(),
        ],
        &std::fs::read(&api).expect("read"),
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("stdin"), "{}", run.stderr);
}

#[test]
fn report_keeps_the_flows_that_matched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("r.html");
    let api = capture("api-errors.pcap");
    let run = sockscope(&[
        "report".as_ref(),
        "-Y".as_ref(),
        "http.status >= 500".as_ref(),
        "-o".as_ref(),
        page.as_os_str(),
        api.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(
        html.contains("\"Internal Server Error\"") && html.contains("\"Service Unavailable\""),
        "the matching responses are in the page"
    );
    assert!(!html.contains("\"Created\""), "the other responses are not");
    assert!(
        !html.contains("error: disk full"),
        "the WebSocket flow's messages are not"
    );
}
