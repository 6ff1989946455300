//! The bundled captures against their expected results (`captures/expected/`, written from what
//! the peers themselves logged), and the `check` gate over them.
//!
//! For every capture: flows and their roles, kinds and mid-stream pick-up; HTTP exchanges in
//! order; the WebSocket handshake; every message and control frame each side sent, in order,
//! byte for byte (SHA-256 with `--digest`); close codes and reasons; SSE events; and exactly the
//! expected anomaly codes. Both with the expected file's `-p` and with `--any-port`. The bad
//! captures' `injected` frames (the raw peer's rule-breaking bytes, not in the message lists)
//! are decoded here independently and must appear where they were sent.
//!
//! Then: every anomaly code the analyzer knows is raised by a bundled capture or by one of the
//! documented synthetic inputs below (for codes only reachable through a cap or through input
//! no well-behaved recording produces).

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Long enough for any control frame's hex preview (125 bytes) and every SSE event here.
const PREVIEW: &str = "100000";

fn analyze(name: &str, exp: &Expected, any_port: bool) -> Report {
    let port = exp.port.to_string();
    let mut extra = vec!["--digest", "--snap-preview", PREVIEW];
    if any_port {
        extra.push("--any-port");
    } else {
        extra.extend(["-p", &port]);
    }
    read_json(&capture(name), &extra)
}

const DIRS: [&str; 2] = ["c2s", "s2c"];

/// The preview's escaping (control characters escaped so a preview is one line).
fn escaped(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn opcode_name(op: u8) -> String {
    match op {
        0 => "continuation".into(),
        1 => "text".into(),
        2 => "binary".into(),
        8 => "close".into(),
        9 => "ping".into(),
        10 => "pong".into(),
        n => format!("reserved-{n}"),
    }
}

/// What the injected bytes of one direction add to that side's message list, decoded with the
/// RFC's rules: data frames assemble into messages (a new data frame abandons one in progress, a
/// continuation with none in progress belongs to nothing), pings and pongs are items of their
/// own. A compressed message (RSV1 under permessage-deflate) that does not inflate has no
/// digest and no known length: `len` and `sha256` are `None` there.
fn injected_items(
    frames: &[RawFrame],
    deflate: bool,
) -> Vec<(String, Option<u64>, Option<String>)> {
    let mut out = Vec::new();
    let mut open: Option<(u8, bool, Vec<u8>)> = None;
    for f in frames {
        match f.opcode {
            1 | 2 => open = Some((f.opcode, f.rsv1, f.payload.clone())),
            0 => {
                if let Some((_, _, data)) = &mut open {
                    data.extend_from_slice(&f.payload);
                }
            }
            9 | 10 => out.push((
                opcode_name(f.opcode),
                Some(f.payload.len() as u64),
                Some(sha256_hex(&f.payload)),
            )),
            _ => {}
        }
        if f.fin
            && matches!(f.opcode, 0..=2)
            && let Some((op, rsv1, data)) = open.take()
        {
            if rsv1 && deflate {
                out.push((opcode_name(op), None, None));
            } else {
                out.push((
                    opcode_name(op),
                    Some(data.len() as u64),
                    Some(sha256_hex(&data)),
                ));
            }
        }
    }
    out
}

fn compare(name: &str, exp: &Expected, r: &Report, d: &mut Diffs) {
    let flows = r.flows();
    d.eq(format!("{name}: flows"), flows.len(), exp.flows);
    d.eq(
        format!("{name}: summary flows"),
        u64_of(r.summary(), "flows"),
        Some(exp.flows as u64),
    );
    d.eq(
        format!("{name}: anomaly codes"),
        r.codes(),
        exp.anomalies.iter().cloned().collect::<BTreeSet<_>>(),
    );
    let gaps = exp.anomalies.iter().any(|c| c == "tcp.gap");

    for c in &exp.connections {
        let Some(f) = flows.get(&c.id) else {
            d.0.push(format!("{name}: no flow {}", c.id));
            continue;
        };
        d.eq(
            format!("{name}: flow {} client", c.id),
            str_of(f, "client"),
            Some(c.client.as_str()),
        );
        d.eq(
            format!("{name}: flow {} server", c.id),
            str_of(f, "server"),
            Some(c.server.as_str()),
        );
        d.eq(
            format!("{name}: flow {} kind", c.id),
            str_of(f, "kind"),
            Some(c.kind.as_str()),
        );
        d.eq(
            format!("{name}: flow {} picked up mid-stream", c.id),
            r.flow_codes(c.id).contains("tcp.midstream"),
            c.midstream,
        );
    }

    compare_http(name, exp, r, gaps, d);
    for ws in &exp.websocket {
        compare_websocket(name, exp, ws, r, d);
    }
    for s in &exp.sse {
        let got: Vec<(Option<String>, Option<String>, String)> = r
            .of_flow("sse_event", s.flow)
            .into_iter()
            .map(|e| {
                (
                    str_of(e, "event").map(str::to_owned),
                    str_of(e, "id").map(str::to_owned),
                    str_of(e, "preview").unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let want: Vec<(Option<String>, Option<String>, String)> = s
            .events
            .iter()
            .map(|e| (e.event.clone(), e.id.clone(), escaped(&e.data)))
            .collect();
        d.eq(format!("{name}: flow {} SSE events", s.flow), got, want);
    }
    let sse_flows: BTreeSet<u64> = exp.sse.iter().map(|s| s.flow).collect();
    d.eq(
        format!("{name}: flows with SSE events"),
        r.of_type("sse_event")
            .filter_map(|e| u64_of(e, "flow"))
            .collect::<BTreeSet<_>>(),
        sse_flows,
    );
}

fn compare_http(name: &str, exp: &Expected, r: &Report, gaps: bool, d: &mut Diffs) {
    for c in &exp.connections {
        let flow = c.id;
        let entries: Vec<&ExpHttp> = exp.http.iter().filter(|h| h.flow == flow).collect();
        let requests = r.http(flow, "c2s");
        let responses = r.http(flow, "s2c");
        if exp.snaplen.is_some() {
            // Every head of this capture is longer than the snaplen left of its packet: each is
            // reported for what its packet holds (the start line, no body), incomplete. What
            // the analyzer makes of the rest is checked with the WebSocket.
            d.eq(
                format!("{name}: flow {flow} request lines of cut heads"),
                requests
                    .iter()
                    .map(|r| (str_of(r, "method"), str_of(r, "target")))
                    .collect::<Vec<_>>(),
                entries
                    .iter()
                    .map(|h| (h.method.as_deref(), h.target.as_deref()))
                    .collect::<Vec<_>>(),
            );
            d.eq(
                format!("{name}: flow {flow} statuses of cut heads"),
                responses
                    .iter()
                    .map(|r| u64_of(r, "status"))
                    .collect::<Vec<_>>(),
                entries.iter().map(|h| h.status).collect::<Vec<_>>(),
            );
            d.check(
                format!("{name}: flow {flow}: a cut head reported complete"),
                requests
                    .iter()
                    .chain(&responses)
                    .all(|m| bool_of(m, "complete") == Some(false)),
            );
            continue;
        }
        let want_req: Vec<&ExpHttp> = entries
            .iter()
            .copied()
            .filter(|h| h.method.is_some())
            .collect();
        let want_resp: Vec<&ExpHttp> = entries
            .iter()
            .copied()
            .filter(|h| h.status.is_some())
            .collect();
        d.eq(
            format!("{name}: flow {flow} requests"),
            requests.len(),
            want_req.len(),
        );
        d.eq(
            format!("{name}: flow {flow} responses"),
            responses.len(),
            want_resp.len(),
        );
        for (i, (got, want)) in requests.iter().zip(&want_req).enumerate() {
            let at = format!("{name}: flow {flow} request {i}");
            d.eq(
                format!("{at} method"),
                str_of(got, "method"),
                want.method.as_deref(),
            );
            d.eq(
                format!("{at} target"),
                str_of(got, "target"),
                want.target.as_deref(),
            );
            d.eq(
                format!("{at} upgrade"),
                str_of(got, "upgrade"),
                want.upgrade.as_deref(),
            );
            if let Some(len) = want.request_body_len {
                d.eq(
                    format!("{at} body bytes"),
                    u64_of(got, "body_bytes"),
                    Some(len),
                );
            }
            d.check(
                format!("{at} incomplete"),
                gaps || bool_of(got, "complete") == Some(true),
            );
        }
        for (i, (got, want)) in responses.iter().zip(&want_resp).enumerate() {
            let at = format!("{name}: flow {flow} response {i}");
            d.eq(format!("{at} status"), u64_of(got, "status"), want.status);
            d.eq(
                format!("{at} chunked"),
                bool_of(got, "chunked"),
                Some(want.chunked),
            );
            if let Some(len) = want.response_body_len {
                d.eq(
                    format!("{at} body bytes"),
                    u64_of(got, "body_bytes"),
                    Some(len),
                );
            }
            d.check(
                format!("{at} incomplete"),
                gaps || bool_of(got, "complete") == Some(true),
            );
            // Bodies are not in the expected files, but with --digest every complete one has
            // a digest, of exactly `body_bytes` bytes when the preview holds the whole body.
            if bool_of(got, "complete") == Some(true) {
                d.check(
                    format!("{at} has no body digest"),
                    str_of(got, "sha256").is_some(),
                );
            }
        }
        if want_req.iter().all(|h| h.method.is_none()) && !entries.is_empty() {
            // http-parse-error: the request did not parse, which is the anomaly.
            d.check(
                format!("{name}: flow {flow}: an unparsed request must be http.parse_error"),
                r.flow_codes(flow).contains("http.parse_error"),
            );
        }
    }
}

fn compare_websocket(name: &str, exp: &Expected, ws: &ExpWebSocket, r: &Report, d: &mut Diffs) {
    let flow = ws.flow;
    let upgraded = exp
        .http
        .iter()
        .any(|h| h.flow == flow && h.status == Some(101));
    match r.handshake(flow) {
        Some(h) => {
            d.check(
                format!("{name}: flow {flow}: handshake record without a 101"),
                upgraded,
            );
            d.eq(
                format!("{name}: flow {flow} subprotocol"),
                str_of(h, "subprotocol").map(str::to_owned),
                ws.subprotocol.clone(),
            );
            let ext: Vec<String> = h
                .get("extensions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let ext = (!ext.is_empty()).then(|| ext.join(", "));
            d.eq(
                format!("{name}: flow {flow} extensions"),
                ext,
                ws.extensions.clone(),
            );
            d.eq(
                format!("{name}: flow {flow} deflate"),
                bool_of(h, "deflate"),
                Some(ws.deflate),
            );
        }
        None => {
            // No handshake: picked up after it (mid-stream), or its heads were cut (snaplen).
            d.check(
                format!("{name}: flow {flow}: 101 seen by the peers but no handshake record"),
                !upgraded || exp.snaplen.is_some(),
            );
        }
    }

    let injected: Vec<&ExpInjected> = exp.injected.iter().filter(|i| i.flow == flow).collect();
    for (di, dir) in DIRS.iter().enumerate() {
        let want = if di == 0 {
            &ws.client_to_server
        } else {
            &ws.server_to_client
        };
        let mut got = r.ws_items(flow, dir);

        // The raw peer's injected frames: each must be reported as a frame, byte for byte;
        // those not also listed in the expected messages are taken out of the comparison here.
        for inj in injected.iter().filter(|i| i.dir == *dir) {
            let bytes = unhex(&inj.bytes_hex);
            if bytes.starts_with(b"HTTP/") {
                continue; // a handshake response, compared with the HTTP exchange
            }
            let Some(frames) = raw_frames(&bytes) else {
                d.0.push(format!(
                    "{name}: injected bytes are not whole frames: {}",
                    inj.bytes_hex
                ));
                continue;
            };
            let reported = r.ws_frames(flow, dir);
            for f in &frames {
                let mask = f.mask.map(|k| hex(&k));
                let found = reported.iter().any(|g| {
                    u64_of(g, "opcode_num") == Some(u64::from(f.opcode))
                        && bool_of(g, "fin") == Some(f.fin)
                        && bool_of(g, "rsv1") == Some(f.rsv1)
                        && u64_of(g, "payload_len") == Some(f.payload.len() as u64)
                        && str_of(g, "mask").map(str::to_owned) == mask
                });
                d.check(
                    format!("{name}: injected frame ({}) not reported: {f:?}", inj.note),
                    found,
                );
            }
            if inj.also_listed {
                continue;
            }
            for (opcode, len, sha) in injected_items(&frames, ws.deflate) {
                let pos = got.iter().position(|g| {
                    g.opcode == opcode
                        && match (&len, &sha) {
                            (Some(len), Some(sha)) => {
                                g.len == *len && g.sha256.as_ref() == Some(sha)
                            }
                            _ => g.sha256.is_none(),
                        }
                });
                match pos {
                    Some(i) => {
                        got.remove(i);
                    }
                    None => d.0.push(format!(
                        "{name}: injected {opcode} ({}) not among the {dir} messages",
                        inj.note
                    )),
                }
            }
        }

        let at = format!("{name}: flow {flow} {dir}");
        d.eq(format!("{at} message count"), got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            d.eq(format!("{at} item {i} opcode"), &g.opcode, &w.opcode);
            d.eq(format!("{at} item {i} ({}) length", w.opcode), g.len, w.len);
            if w.frames.is_some() {
                d.eq(
                    format!("{at} item {i} ({}) frames", w.opcode),
                    g.frames,
                    w.frames,
                );
            }
            match (&g.sha256, exp.snaplen) {
                // The snaplen cut this message's bytes: it is reported, without a digest, and
                // only if it could not have fitted in one cut packet (66 bytes of Ethernet, IPv4
                // and TCP-with-timestamps headers precede the payload).
                (None, Some(snaplen)) => d.check(
                    format!(
                        "{at} item {i}: {} bytes fit in a {snaplen}-byte packet but have no digest",
                        g.len
                    ),
                    g.len + 66 > u64::from(snaplen),
                ),
                _ => d.eq(
                    format!("{at} item {i} ({}) sha256", w.opcode),
                    &g.sha256,
                    &w.sha256,
                ),
            }
        }
        let want_close = if di == 0 {
            &ws.close.c2s
        } else {
            &ws.close.s2c
        };
        d.eq(
            format!("{at} close"),
            r.close(flow, dir),
            want_close.clone(),
        );
    }
}

#[test]
fn every_capture_has_an_expected_file_and_vice_versa() {
    let with_expected: BTreeSet<String> = expected_all().into_iter().map(|(n, _)| n).collect();
    let files: BTreeSet<String> = capture_files().into_iter().collect();
    assert_eq!(with_expected, files);
    assert_eq!(files.len(), 41, "21 good and 20 bad captures");
}

#[test]
fn captures_match_their_expected_results() {
    let mut d = Diffs::new("got", "expected");
    for (name, exp) in expected_all() {
        for any_port in [false, true] {
            let r = analyze(&name, &exp, any_port);
            let mode = if any_port { "--any-port" } else { "-p" };
            let mut one = Diffs::new("got", "expected");
            compare(&name, &exp, &r, &mut one);
            d.0.extend(one.0.into_iter().map(|e| format!("[{mode}] {e}")));
        }
    }
    assert!(
        d.0.is_empty(),
        "{} differences:\n{}",
        d.0.len(),
        d.0.join("\n")
    );
}

#[test]
fn digest_is_absent_without_the_flag() {
    let r = read_json(&capture("ws-chat.pcap"), &[]);
    assert!(r.of_type("ws_message").count() > 0);
    for rec in r.of_type("ws_message").chain(r.of_type("http")) {
        assert!(rec.get("sha256").is_none(), "{rec}");
    }
}

#[test]
fn every_record_matches_the_published_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/schema.json")).expect("schema"),
    )
    .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("valid JSON Schema");
    let mut bad = Vec::new();
    for (name, exp) in expected_all() {
        for extra in [&["--digest"][..], &[]] {
            let mut args = extra.to_vec();
            let port = exp.port.to_string();
            args.extend(["-p", &port]);
            let r = read_json(&capture(&name), &args);
            for rec in &r.records {
                if let Err(e) = validator.validate(rec) {
                    bad.push(format!("{name}: {e}: {rec}"));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The `check` gate

fn check(args: &[&str]) -> Run {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    let dir = root();
    let mut full: Vec<String> = all.iter().map(|s| s.to_string()).collect();
    // Paths relative to the crate root, whatever the test's working directory.
    for a in full.iter_mut().skip(1) {
        if a.starts_with("captures") {
            *a = dir.join(&*a).to_string_lossy().into_owned();
        }
    }
    sockscope(&full)
}

#[test]
fn check_passes_the_good_captures() {
    let run = check(&["captures"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let pass_lines = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("PASS "))
        .count();
    assert_eq!(pass_lines, 21, "{}", run.stdout);
}

#[test]
fn check_fails_the_bad_captures() {
    let run = check(&["captures/bad"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    // Only the four whose code is a warning pass without --strict.
    let passing: BTreeSet<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("PASS "))
        .filter_map(|l| l.split(':').next())
        .filter_map(|p| Path::new(p).file_name()?.to_str())
        .collect();
    assert_eq!(
        passing,
        BTreeSet::from([
            "tcp-overlap-conflict.pcap",
            "tcp-rst-out-of-window.pcap",
            "ws-gap.pcap",
            "ws-non-minimal-length.pcap"
        ]),
        "{}",
        run.stdout
    );

    let strict = check(&["--strict", "captures/bad"]);
    assert_eq!(strict.code, 1, "{}{}", strict.stdout, strict.stderr);
    let fails = strict
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL "))
        .count();
    let bad = std::fs::read_dir(capture("bad"))
        .expect("captures/bad")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "pcap"))
        })
        .count();
    assert_eq!(
        fails, bad,
        "every bad capture fails with --strict:\n{}",
        strict.stdout
    );
    assert!(!strict.stdout.lines().any(|l| l.starts_with("PASS ")));
}

#[test]
fn check_reports_exactly_the_expected_codes_of_each_bad_capture() {
    let run = check(&["--json", "--strict", "captures/bad"]);
    assert_eq!(run.code, 1);
    let verdicts: BTreeMap<String, Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
        .filter(|v| str_of(v, "type") == Some("check"))
        .map(|v| {
            let file = str_of(&v, "file").expect("file").to_owned();
            let name = Path::new(&file)
                .file_name()
                .and_then(|n| n.to_str())
                .expect("name")
                .to_owned();
            (format!("bad/{name}"), v)
        })
        .collect();
    let bad: Vec<(String, Expected)> = expected_all()
        .into_iter()
        .filter(|(n, _)| n.starts_with("bad/"))
        .collect();
    assert_eq!(verdicts.len(), bad.len());
    for (name, exp) in bad {
        let v = &verdicts[&name];
        let codes: BTreeSet<String> = v
            .get("anomalies")
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let want: BTreeSet<String> = exp.anomalies.iter().cloned().collect();
        assert_eq!(codes, want, "{name}");
        assert_eq!(
            bool_of(v, "pass"),
            Some(false),
            "{name} must fail with --strict"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Every anomaly code is reachable

/// A synthetic input for a code no bundled capture raises: how it is made, the arguments, and
/// the capture bytes (or a bundled capture).
struct Synthetic {
    code: &'static str,
    how: &'static str,
    /// The other codes the input raises, as consequences of the same cause.
    also: &'static [&'static str],
    args: Vec<String>,
    input: Input,
}

enum Input {
    Bytes(Vec<u8>),
    Bundled(&'static str),
    /// A capture and the key log that decrypts it, both written to a temporary directory
    /// and read with `--keylog`.
    Keyed {
        capture: Vec<u8>,
        keylog: String,
    },
}

fn websocket_session(extensions: Option<&str>, frames: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    let mut c = TcpConn::new(CLIENT, SERVER);
    c.handshake(&mut w);
    c.send(&mut w, C2S, &upgrade_request(extensions));
    c.send(&mut w, S2C, &upgrade_response(extensions));
    for (dir, bytes) in frames {
        c.send(&mut w, *dir, bytes);
    }
    c.fin(&mut w);
    w.bytes().to_vec()
}

/// An upgrade request, then `client` bytes before any response, then the 101 if `answered`.
fn upgrade_then(client: &[u8], answered: bool) -> Vec<u8> {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    let mut c = TcpConn::new(CLIENT, SERVER);
    c.handshake(&mut w);
    c.send(&mut w, C2S, &upgrade_request(None));
    c.send(&mut w, C2S, client);
    if answered {
        c.send(&mut w, S2C, &upgrade_response(None));
    }
    c.fin(&mut w);
    w.bytes().to_vec()
}

/// A compressed message ("Hello", RFC 7692 §7.2.3.1).
const HELLO_DEFLATED: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

fn synthetic_inputs() -> Vec<Synthetic> {
    let mut out = Vec::new();

    // The memory budget giving way, with a 1 MiB budget (tests/budget.rs: at the default).
    out.extend(hostile::budget_cases().into_iter().map(|c| Synthetic {
        code: c.code,
        how: c.how,
        also: c.also,
        args: c.args,
        input: Input::Bytes(c.bytes),
    }));

    // Caps, through their command-line options.
    out.push(Synthetic {
        code: "ws.message_too_large",
        how: "ws-deflate.pcap with --max-inflate 100: its 2048-byte messages inflate beyond the cap",
        also: &[],
        args: vec!["--max-inflate".into(), "100".into()],
        input: Input::Bundled("ws-deflate.pcap"),
    });
    out.push(Synthetic {
        code: "tcp.flow_cap",
        how: "chromium-ws.pcap (3 connections open at once) with --max-flows 1",
        // A connection refused while the table was full is tracked once there is room again,
        // without its SYN.
        also: &["tcp.midstream"],
        args: vec!["--max-flows".into(), "1".into()],
        input: Input::Bundled("chromium-ws.pcap"),
    });

    // Caps without an option: inputs big enough to hit the default.
    out.push(Synthetic {
        code: "ws.inflater_cap",
        how: "257 concurrent permessage-deflate connections, one compressed message each \
              (the default cap is 256 live inflaters)",
        also: &[],
        args: vec![],
        input: Input::Bytes({
            let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
            let ext = Some("permessage-deflate");
            let mut conns: Vec<TcpConn> = (0..257u16)
                .map(|i| TcpConn::new(([10, 0, (i >> 8) as u8, (i & 0xff) as u8], 40000), SERVER))
                .collect();
            for c in &mut conns {
                c.handshake(&mut w);
                c.send(&mut w, C2S, &upgrade_request(ext));
                c.send(&mut w, S2C, &upgrade_response(ext));
                c.send(
                    &mut w,
                    S2C,
                    &ws_frame(true, true, 1, false, &HELLO_DEFLATED),
                );
            }
            w.bytes().to_vec()
        }),
    });
    out.push(Synthetic {
        code: "http.head_too_large",
        how: "a request head of 70 000 bytes (the default cap is 64 KiB)",
        also: &[],
        args: vec![],
        input: Input::Bytes(http_session(
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "a".repeat(70_000)
            )
            .as_bytes(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        )),
    });
    out.push(Synthetic {
        code: "http.upgrade_hold_overflow",
        how: "70 000 client bytes after an upgrade request, before any response \
              (the default hold cap is 64 KiB)",
        also: &[],
        args: vec![],
        input: Input::Bytes(upgrade_then(
            &ws_frame(true, false, 2, true, &[7u8; 70_000]),
            true,
        )),
    });
    out.push(Synthetic {
        code: "tcp.buffer_cap",
        how: "the first 1000 client bytes never arrive while 1.2 MB behind them do \
              (the default out-of-order cap is 1 MiB per direction)",
        // The dropped bytes become gaps, and HTTP skips the 'x's looking for a request line.
        also: &["tcp.gap", "http.resync"],
        args: vec![],
        input: Input::Bytes({
            let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
            let mut c = TcpConn::new(CLIENT, SERVER);
            c.handshake(&mut w);
            let start = c.seq[C2S].wrapping_add(1000);
            for i in 0..850u32 {
                let p = c.raw(C2S, start.wrapping_add(i * 1448), ACK, &[b'x'; 1448]);
                w.packet(&p);
            }
            w.bytes().to_vec()
        }),
    });

    // Malformed sub-protocol data, decoded as the protocol `--decode-as` names (no real peer
    // sends it; the recorded sub-protocol captures raise none of these).
    let text = |dir: usize, s: &[u8]| (dir, ws_frame(true, false, 1, dir == C2S, s));
    let binary = |dir: usize, s: &[u8]| (dir, ws_frame(true, false, 2, dir == C2S, s));
    let sub = |code, how, proto: &str, frames: Vec<(usize, Vec<u8>)>| Synthetic {
        code,
        how,
        also: &[],
        args: vec!["--decode-as".into(), proto.into()],
        input: Input::Bytes(websocket_session(None, &frames)),
    };
    out.push(sub(
        "sub.invalid_json",
        "--decode-as json-rpc, a client text message that is not JSON",
        "json-rpc",
        vec![text(C2S, br#"{"jsonrpc":"2.0","method":"#)],
    ));
    out.push(sub(
        "sub.not_text",
        "--decode-as json-rpc, a binary client message",
        "json-rpc",
        vec![binary(C2S, &[0, 1, 2, 3])],
    ));
    out.push(Synthetic {
        code: "sub.truncated",
        how: "--decode-as json with --max-message 16, a 60-byte JSON text message",
        also: &[],
        args: vec![
            "--decode-as".into(),
            "json".into(),
            "--max-message".into(),
            "16".into(),
        ],
        input: Input::Bytes(websocket_session(
            None,
            &[text(
                C2S,
                br#"{"greeting":"hello, world","padding":"xxxxxxxxxxxxxx"}"#,
            )],
        )),
    });
    out.push(sub(
        "sub.socketio_malformed",
        "--decode-as socket.io, a text message of Engine.IO packet type 9",
        "socket.io",
        vec![text(S2C, b"9nonsense")],
    ));
    out.push(sub(
        "sub.socketio_attachment_missing",
        "--decode-as socket.io, a BINARY_EVENT announcing one attachment, then an EVENT",
        "socket.io",
        vec![
            text(C2S, br#"451-["upload",{"_placeholder":true,"num":0}]"#),
            text(C2S, br#"42["chat message","hi"]"#),
        ],
    ));
    out.push(sub(
        "sub.socketio_unexpected_binary",
        "--decode-as socket.io, a binary message no binary event announced",
        "socket.io",
        vec![binary(S2C, &[1, 2, 3, 4])],
    ));
    out.push(sub(
        "sub.stomp_malformed",
        "--decode-as stomp, a SEND frame with a header line without a colon",
        "stomp",
        vec![text(C2S, b"SEND\ndestination /queue/a\n\nbody\0")],
    ));
    out.push(sub(
        "sub.stomp_unknown_command",
        "--decode-as stomp, a frame with the command FETCH",
        "stomp",
        vec![text(C2S, b"FETCH\ndestination:/queue/a\n\n\0")],
    ));
    out.push(sub(
        "sub.mqtt_malformed",
        "--decode-as mqtt, a packet of the reserved type 0",
        "mqtt",
        vec![binary(C2S, &[0x00, 0x00])],
    ));
    out.push(Synthetic {
        // The rest never comes: the connection ends inside the packet.
        also: &["sub.mqtt_truncated"],
        ..sub(
            "sub.mqtt_length_overrun",
            "--decode-as mqtt, a PUBLISH announcing 300 000 bytes (the cap is 256 KiB), of \
             which the first arrive",
            "mqtt",
            vec![binary(
                C2S,
                &[0x30, 0xe0, 0xa7, 0x12, 0x00, 0x01, b't', b'x', b'x', b'x'],
            )],
        )
    });
    out.push(sub(
        "sub.mqtt_truncated",
        "--decode-as mqtt, the first 4 bytes of a 12-byte PUBLISH, then the connection ends",
        "mqtt",
        vec![binary(C2S, &[0x30, 0x0a, 0x00, 0x01])],
    ));
    out.push(sub(
        "sub.mqtt_text_frame",
        "--decode-as mqtt, a PUBLISH in a text message (its bytes are all ASCII)",
        "mqtt",
        vec![text(C2S, b"0\x05\x00\x01tab")],
    ));
    out.push(sub(
        "sub.graphql_invalid",
        "--decode-as graphql-transport-ws, a message of type \"bogus\"",
        "graphql-transport-ws",
        vec![text(C2S, br#"{"type":"bogus"}"#)],
    ));
    out.push(sub(
        "sub.signalr_malformed",
        "--decode-as signalr, a JSON record without its 0x1E terminator",
        "signalr",
        vec![text(S2C, br#"{"type":1,"target":"send","arguments":[]}"#)],
    ));
    out.push(sub(
        "sub.jsonrpc_invalid",
        "--decode-as json-rpc, an object with neither method nor result nor error",
        "json-rpc",
        vec![text(C2S, br#"{"jsonrpc":"2.0","id":1}"#)],
    ));
    out.push(sub(
        "sub.wamp_invalid",
        "--decode-as wamp, a message of code 999",
        "wamp",
        vec![text(C2S, b"[999]")],
    ));
    out.push(sub(
        "sub.requests_evicted",
        "--decode-as json-rpc, 1 030 requests never answered (1 024 are kept waiting)",
        "json-rpc",
        (0..1030)
            .map(|i| {
                let r = format!(r#"{{"jsonrpc":"2.0","method":"m","id":{i}}}"#);
                text(C2S, r.as_bytes())
            })
            .collect(),
    ));
    out.push(sub(
        "sub.duplicate_request_id",
        "--decode-as json-rpc, two requests with id 1, neither answered",
        "json-rpc",
        vec![
            text(C2S, br#"{"jsonrpc":"2.0","method":"a","id":1}"#),
            text(C2S, br#"{"jsonrpc":"2.0","method":"b","id":1}"#),
        ],
    ));

    // Inputs no well-behaved peer or recording produces.
    out.push(Synthetic {
        code: "ws.length_too_large",
        how: "a server frame whose 64-bit length has its most significant bit set",
        also: &[],
        args: vec![],
        input: Input::Bytes(websocket_session(
            None,
            &[(S2C, vec![0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 0xaa])],
        )),
    });
    out.push(Synthetic {
        code: "ws.truncated",
        how: "ws-lengths.pcap cut after packet 60, inside its 65536-byte messages",
        also: &[],
        args: vec![],
        input: Input::Bytes({
            let mut f = PcapFile::read(&capture("ws-lengths.pcap"));
            f.records.truncate(60);
            f.bytes()
        }),
    });
    out.push(Synthetic {
        code: "http.ambiguous_framing",
        how: "a request with both Transfer-Encoding: chunked and Content-Length",
        also: &[],
        args: vec![],
        input: Input::Bytes(http_session(
            b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        )),
    });
    out.push(Synthetic {
        code: "http.resync",
        how: "a request whose first segment (its request line) is lost: the rest of its head \
              is skipped up to the next request line",
        also: &["tcp.gap"],
        args: vec![],
        input: Input::Bytes({
            let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
            let mut c = TcpConn::new(CLIENT, SERVER);
            c.handshake(&mut w);
            let lost = b"GET /first HTTP/1.1\r\n";
            c.seq[C2S] = c.seq[C2S].wrapping_add(lost.len() as u32);
            c.send(
                &mut w,
                C2S,
                b"Host: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n",
            );
            // The server's acknowledgment proves the lost bytes crossed the wire.
            c.send(
                &mut w,
                S2C,
                b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            );
            c.fin(&mut w);
            w.bytes().to_vec()
        }),
    });
    out.push(Synthetic {
        code: "http.requests_evicted",
        how: "1 030 pipelined requests, the first a HEAD, before any response: the HEAD's \
              response (Content-Length 5, no body, RFC 9112 §6.3) must still be framed right \
              after its request was evicted from the full record (no parse error follows)",
        also: &[],
        args: vec![],
        input: Input::Bytes({
            let mut requests = b"HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
            let mut responses = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".to_vec();
            for _ in 0..1029 {
                requests.extend_from_slice(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
                responses.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
            http_session(&requests, &responses)
        }),
    });
    out.push(Synthetic {
        code: "http.upgrade_unanswered",
        how: "an upgrade request and a client frame, then the connection closes without a response",
        also: &[],
        args: vec![],
        input: Input::Bytes(upgrade_then(
            &ws_frame(true, false, 1, true, b"anyone there?"),
            false,
        )),
    });
    out.push(Synthetic {
        code: "ws.request_not_captured",
        how: "a connection picked up between the upgrade request and its 101, then frames",
        also: &["tcp.midstream"],
        args: vec![],
        input: Input::Bytes(upgrade_without_request()),
    });
    out.push(Synthetic {
        code: "ip.fragment",
        how: "the first fragment of an IPv4 datagram whose other fragments never come",
        also: &[],
        args: vec![],
        input: Input::Bytes({
            let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
            let seg = tcp_segment(40000, 80, 1, 1, ACK, &[b'y'; 64]);
            // More fragments follows, offset 0.
            w.packet(&eth_ipv4(CLIENT.0, SERVER.0, 6, 0x2000, 77, &seg));
            w.bytes().to_vec()
        }),
    });
    out.push(Synthetic {
        code: "tcp.rst_ignored",
        how: "a RST from the client (exactly at its next sequence number, as an injected one \
              would be) after which the client sends another request and the server \
              acknowledges and answers it",
        also: &[],
        args: vec![],
        input: Input::Bytes({
            let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
            let mut c = TcpConn::new(CLIENT, SERVER);
            c.handshake(&mut w);
            let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            c.send(&mut w, C2S, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
            c.send(&mut w, S2C, ok);
            w.packet(&c.raw(C2S, c.seq[C2S], RST | ACK, b""));
            c.send(&mut w, C2S, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
            c.send(&mut w, S2C, ok);
            c.fin(&mut w);
            w.bytes().to_vec()
        }),
    });
    // One request packet with a header byte broken.
    let broken = |at: usize, value: u8| {
        let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
        let c = TcpConn::new(CLIENT, SERVER);
        let mut p = c.raw(C2S, c.seq[C2S], ACK, b"GET / HTTP/1.1\r\n\r\n");
        p[at] = value;
        w.packet(&p);
        w.bytes().to_vec()
    };
    out.push(Synthetic {
        code: "tcp.bad_header",
        how: "a segment to port 80 whose TCP data offset is 3 words (below the 5-word minimum)",
        also: &[],
        args: vec![],
        input: Input::Bytes(broken(14 + 20 + 12, 0x30)),
    });
    out.push(Synthetic {
        code: "ip.bad_header",
        how: "a TCP packet whose IPv4 header length field (IHL) is 4 words",
        also: &[],
        args: vec![],
        input: Input::Bytes(broken(14, 0x44)),
    });
    out.extend(tls_synthetics());

    out.push(Synthetic {
        code: "link.unknown",
        how: "a pcap of link type 147 (USER0), which sockscope does not decode",
        also: &[],
        args: vec![],
        input: Input::Bytes({
            let mut w = PcapWriter::new(147);
            w.packet(b"some bytes of a private link layer");
            w.bytes().to_vec()
        }),
    });
    out
}

fn run_synthetic(s: &Synthetic) -> Report {
    let mut args: Vec<String> = vec!["read".into(), "--json".into(), "--any-port".into()];
    args.extend(s.args.iter().cloned());
    match &s.input {
        Input::Bundled(name) => {
            args.push(capture(name).to_string_lossy().into_owned());
            sockscope(&args).report()
        }
        Input::Bytes(bytes) => {
            let (_dir, path) = temp_file("synthetic.pcap", bytes);
            args.push(path.to_string_lossy().into_owned());
            sockscope(&args).report()
        }
        Input::Keyed { capture, keylog } => {
            let (dir, path) = temp_file("synthetic.pcap", capture);
            let keys = dir.path().join("synthetic.keys");
            std::fs::write(&keys, keylog).expect("write the key log");
            args.push("--keylog".into());
            args.push(keys.to_string_lossy().into_owned());
            args.push(path.to_string_lossy().into_owned());
            sockscope(&args).report()
        }
    }
}

#[test]
fn synthetic_inputs_raise_their_codes() {
    let mut wrong = Vec::new();
    for s in synthetic_inputs() {
        let codes = run_synthetic(&s).codes();
        let want: BTreeSet<String> = std::iter::once(s.code)
            .chain(s.also.iter().copied())
            .map(str::to_owned)
            .collect();
        if codes != want {
            wrong.push(format!(
                "{} ({}): got {codes:?}, expected {want:?}",
                s.code, s.how
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_anomaly_code_is_raised_by_a_capture_or_a_synthetic_input() {
    let mut reached: BTreeMap<String, String> = BTreeMap::new();
    for (name, exp) in expected_all() {
        for code in analyze(&name, &exp, true).codes() {
            reached.entry(code).or_insert_with(|| name.clone());
        }
    }
    for s in synthetic_inputs() {
        if run_synthetic(&s).codes().contains(s.code) {
            reached
                .entry(s.code.to_owned())
                .or_insert_with(|| s.how.to_owned());
        }
    }
    let all: BTreeSet<String> = sockscope::model::Code::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    let unreached: Vec<&String> = all.iter().filter(|c| !reached.contains_key(*c)).collect();
    assert!(unreached.is_empty(), "never raised: {unreached:?}");
    let unknown: Vec<&String> = reached.keys().filter(|c| !all.contains(*c)).collect();
    assert!(unknown.is_empty(), "codes outside Code::ALL: {unknown:?}");
}

/// Digests cover the whole message whatever is kept for display: the same with a one-character
/// preview as with one larger than any message, on the captures with the longest and the
/// compressed messages.
#[test]
fn digests_do_not_depend_on_the_preview() {
    for name in [
        "ws-lengths.pcap",
        "ws-deflate.pcap",
        "chromium-ws.pcap",
        "ws-lossy.pcap",
    ] {
        let digests = |preview: &str| -> Vec<Option<String>> {
            let r = read_json(&capture(name), &["--digest", "--snap-preview", preview]);
            r.of_type("ws_message")
                .chain(r.of_type("http"))
                .map(|m| str_of(m, "sha256").map(str::to_owned))
                .collect()
        };
        let small = digests("1");
        assert!(small.iter().all(Option::is_some), "{name}: {small:?}");
        assert_eq!(small, digests("1000000"), "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// TLS codes no recorded peer raises: connections built with known keys (the key log written
// beside), from the record layer's test kit.

use sockscope::proto::tls::testkit::Synth;
use sockscope::tcp::Dir;

/// One step of a synthetic TLS connection: bytes sent by a side, or lost before the capture.
enum Step {
    Send(usize, Vec<u8>),
    Lose(usize, usize),
}

/// A TLS connection of `suite` on the synthetic endpoints: its handshake (changed by `patch`),
/// then `then`'s steps, then both FINs: the capture with its key log.
fn tls_session(
    suite: u16,
    patch: impl FnOnce(&mut Vec<(Dir, Vec<u8>)>),
    then: impl FnOnce(&Synth) -> Vec<Step>,
) -> (Vec<String>, Input) {
    let synth = Synth::new(suite, false, 7).expect("a decryptable suite");
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    let mut c = TcpConn::new(CLIENT, SERVER);
    c.handshake(&mut w);
    let mut hs = synth.handshake();
    patch(&mut hs);
    for (dir, bytes) in hs {
        c.send(&mut w, dir.index(), &bytes);
    }
    for step in then(&synth) {
        match step {
            Step::Send(dir, bytes) => c.send(&mut w, dir, &bytes),
            Step::Lose(dir, n) => c.seq[dir] = c.seq[dir].wrapping_add(n as u32),
        }
    }
    c.fin(&mut w);
    (
        Vec::new(),
        Input::Keyed {
            capture: w.bytes().to_vec(),
            keylog: synth.keylog(),
        },
    )
}

/// Application records `seqs` of `dir`, each carrying `plaintext`.
fn app_records(synth: &Synth, dir: Dir, seqs: std::ops::Range<u64>, plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for seq in seqs {
        synth.app_record(dir, seq, plaintext, &mut out);
    }
    out
}

/// The ServerHello's cipher suite, in the handshake's server flight (after the 5-byte record
/// header, the 4-byte handshake header, version, random and session id).
fn patch_server_hello(hs: &mut [(Dir, Vec<u8>)], version: Option<u16>, suite: Option<u16>) {
    let (_, sh) = hs
        .iter_mut()
        .find(|(d, _)| *d == Dir::S2C)
        .expect("a server flight");
    if let Some(v) = version {
        sh[9..11].copy_from_slice(&v.to_be_bytes());
    }
    if let Some(s) = suite {
        let at = 44 + usize::from(sh[43]);
        sh[at..at + 2].copy_from_slice(&s.to_be_bytes());
    }
}

fn tls_synthetics() -> Vec<Synthetic> {
    const TLS13: u16 = 0x1301;
    const TLS12: u16 = 0xc02f;
    let none = |_: &mut Vec<(Dir, Vec<u8>)>| {};
    let mut out = Vec::new();
    let mut push = |code: &'static str,
                    how: &'static str,
                    also: &'static [&'static str],
                    (args, input): (Vec<String>, Input)| {
        out.push(Synthetic {
            code,
            how,
            also,
            args,
            input,
        })
    };
    push(
        "tls.alert",
        "TLS 1.3: the server sends a fatal handshake_failure alert under the application keys",
        &[],
        tls_session(TLS13, none, |s| {
            let mut b = Vec::new();
            s.alert_record(Dir::S2C, 0, 2, 40, &mut b);
            vec![Step::Send(S2C, b)]
        }),
    );
    push(
        "tls.alert_warning",
        "TLS 1.2: the client sends a warning-level no_renegotiation alert",
        &[],
        tls_session(TLS12, none, |s| {
            let mut b = Vec::new();
            s.alert_record(Dir::C2S, 1, 1, 100, &mut b);
            vec![Step::Send(C2S, b)]
        }),
    );
    push(
        "tls.data_after_close_notify",
        "TLS 1.3: the server sends application data after its close_notify",
        &[],
        tls_session(TLS13, none, |s| {
            let mut b = Vec::new();
            s.alert_record(Dir::S2C, 0, 1, 0, &mut b);
            s.app_record(Dir::S2C, 1, b"too late", &mut b);
            vec![Step::Send(S2C, b)]
        }),
    );
    push(
        "tls.record_too_large",
        "TLS 1.3: a record of 16385 bytes of plaintext, one over the limit",
        &[],
        tls_session(TLS13, none, |s| {
            vec![Step::Send(
                S2C,
                app_records(s, Dir::S2C, 0..1, &vec![b'x'; (1 << 14) + 1]),
            )]
        }),
    );
    push(
        "tls.unsupported_cipher_suite",
        "TLS 1.3 whose ServerHello selects TLS_AES_128_CCM_SHA256, which sockscope does not \
         decrypt",
        &[],
        tls_session(
            TLS13,
            |hs| patch_server_hello(hs, None, Some(0x1304)),
            |s| vec![Step::Send(C2S, app_records(s, Dir::C2S, 0..2, b"data"))],
        ),
    );
    push(
        "tls.unsupported_version",
        "a ServerHello that selects TLS 1.1",
        &[],
        tls_session(
            TLS12,
            |hs| patch_server_hello(hs, Some(0x0302), None),
            |s| vec![Step::Send(C2S, app_records(s, Dir::C2S, 1..3, b"data"))],
        ),
    );
    push(
        "tls.renegotiation",
        "TLS 1.2: the server sends a HelloRequest inside the protected session",
        &[],
        tls_session(TLS12, none, |s| {
            let mut b = Vec::new();
            s.sealed_record(Dir::S2C, 1, 22, &[0, 0, 0, 0], &mut b);
            vec![Step::Send(S2C, b)]
        }),
    );
    push(
        "tls.resync",
        "TLS 1.3: three application records lost in the middle of eight, framing found again \
         on the next record by decryption",
        &["tcp.gap"],
        tls_session(TLS13, none, |s| {
            let first = app_records(s, Dir::S2C, 0..2, &[b'a'; 300]);
            let lost = app_records(s, Dir::S2C, 2..5, &[b'b'; 300]);
            // Cut inside a record: the loss starts and ends mid-record.
            let rest = app_records(s, Dir::S2C, 5..8, &[b'c'; 300]);
            let mut all = first.clone();
            all.extend_from_slice(&lost);
            all.extend_from_slice(&rest);
            let cut = first.len() - 100;
            let resume = first.len() + lost.len() + 100;
            vec![
                Step::Send(S2C, all[..cut].to_vec()),
                Step::Lose(S2C, resume - cut),
                Step::Send(S2C, all[resume..].to_vec()),
                Step::Send(C2S, app_records(s, Dir::C2S, 0..1, b"ack")),
            ]
        }),
    );
    push(
        "tls.truncated_record",
        "TLS 1.3: the server's stream ends in the middle of a record",
        &[],
        tls_session(TLS13, none, |s| {
            let rec = app_records(s, Dir::S2C, 0..1, &[b'z'; 200]);
            vec![Step::Send(S2C, rec[..100].to_vec())]
        }),
    );
    push(
        "tls.bad_record",
        "TLS 1.2: bytes that are no record header after the handshake; framing is found \
         again on the records after them",
        &["tls.resync"],
        tls_session(TLS12, none, |s| {
            let mut b = b"\xee\xee\xee\xee\xee\xee".to_vec();
            b.extend(app_records(
                s,
                Dir::C2S,
                1..3,
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            ));
            vec![Step::Send(C2S, b)]
        }),
    );
    push(
        "tls.handshake_malformed",
        "a ClientHello whose lengths do not add up",
        &[],
        tls_session(
            TLS12,
            |hs| {
                let (_, ch) = &mut hs[0];
                // The session id's length byte claims more than the message holds.
                ch[43] = 0xff;
            },
            |_| Vec::new(),
        ),
    );
    push(
        "tls.handshake_too_long",
        "a handshake message that claims 16 MiB, over the 128 KiB reassembly limit",
        &[],
        tls_session(
            TLS12,
            |hs| {
                // A Certificate header claiming 0xffffff bytes at the end of the server's
                // first flight (in the clear, before its ChangeCipherSpec).
                hs[1]
                    .1
                    .extend_from_slice(&[22, 3, 3, 0, 8, 11, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
            },
            |_| Vec::new(),
        ),
    );
    push(
        "tls.missing_secrets",
        "the recorded session whose key log lacks its lines",
        &[],
        (
            vec![
                "--keylog".into(),
                capture("tls/tls-missing-session.keys")
                    .to_string_lossy()
                    .into_owned(),
            ],
            Input::Bundled("tls/tls-missing-session.pcap"),
        ),
    );
    push(
        "tls.decrypt_failed",
        "the recorded session whose key log has a wrong server secret: the server's 101 cannot \
         be read, so the upgrade is never answered",
        &["http.upgrade_unanswered"],
        (
            vec![
                "--keylog".into(),
                capture("tls/tls-wrong-key.keys")
                    .to_string_lossy()
                    .into_owned(),
            ],
            Input::Bundled("tls/tls-wrong-key.pcap"),
        ),
    );
    out
}
