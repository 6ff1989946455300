//! `sockscope report`: the page's data are the `--json` records, byte for byte (plus the
//! report's own `tcp`, `ws_accept` and `sse_stream` records, which validate against
//! docs/schema.json); a capture of 10,000 flows makes a page under 2 MiB that says what it
//! left out; strings from the capture never become markup; and, in a real browser (Debian's
//! Chromium driven by Playwright, tests/browser/report_test.py), every bundled capture's page
//! loads with no error and no request, shows the JSON's numbers and draws each WebSocket flow's
//! ladder with an arrow per message. The browser test saves screenshots into
//! target/report-screenshots/.

mod common;

use common::{C2S, PcapWriter, S2C, TcpConn, report_block as block, report_records as expand};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The report's own record types, which `--json` does not print.
const REPORT_ONLY: [&str; 3] = ["tcp", "ws_accept", "sse_stream"];

fn record_type(line: &str) -> String {
    let v: Value = serde_json::from_str(line).expect("record");
    v["type"].as_str().expect("type").to_string()
}

fn report_html(args: &[&str]) -> String {
    let mut cmd = Command::new(common::BIN);
    cmd.arg("report").args(args).args(["-o", "-"]);
    String::from_utf8(common::run_ok(&mut cmd)).expect("UTF-8 page")
}

fn json_lines(args: &[&str]) -> Vec<String> {
    let mut cmd = Command::new(common::BIN);
    cmd.arg("read").arg("--json").args(args);
    String::from_utf8(common::run_ok(&mut cmd))
        .expect("UTF-8")
        .lines()
        .map(String::from)
        .collect()
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(common::root().join("docs/schema.json")).expect("schema");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

/// Every bundled capture with the port its expected file names.
fn bundled() -> Vec<(String, PathBuf, u16)> {
    let expected = common::expected_all();
    common::capture_files()
        .into_iter()
        .map(|name| {
            let sub = name
                .strip_prefix("sub/")
                .and_then(|n| n.strip_suffix(".pcap"))
                .and_then(|n| {
                    let path = common::captures().join(format!("expected/sub/{n}.json"));
                    let v: Value =
                        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
                    v["port"].as_u64().map(|p| p as u16)
                });
            let port = expected
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(sub.unwrap_or(80), |(_, e)| e.port);
            let path = common::capture(&name);
            (name, path, port)
        })
        .collect()
}

#[test]
fn the_page_embeds_exactly_the_json_records() {
    let validator = validator();
    let mut tcp_records = 0;
    for (name, path, port) in bundled() {
        let file = path.to_str().expect("path");
        let port = port.to_string();
        let args = [file, "-p", &port];
        let html = report_html(&args);
        let page = expand(&html);
        let ours: Vec<&String> = page
            .iter()
            .filter(|l| !REPORT_ONLY.contains(&record_type(l).as_str()))
            .collect();
        let json = json_lines(&args);
        assert_eq!(ours.len(), json.len(), "{name}: record count");
        for (a, b) in ours.iter().zip(&json) {
            assert_eq!(*a, b, "{name}");
        }
        for line in page
            .iter()
            .filter(|l| REPORT_ONLY.contains(&record_type(l).as_str()))
        {
            let v: Value = serde_json::from_str(line).unwrap();
            let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{name}: {line}: {errors:?}");
            tcp_records += usize::from(v["type"] == "tcp");
        }
        let meta: Value = serde_json::from_str(block(&html, "meta")).unwrap();
        let left = &meta["left_out"];
        assert_eq!(left["flows_not_listed"], 0, "{name}");
        assert_eq!(left["anomalies_not_kept"], 0, "{name}");
        assert_eq!(left["cut"], serde_json::json!({}), "{name}");
        let flows = json.iter().filter(|l| record_type(l) == "flow").count();
        assert_eq!(
            meta["detail_flows"].as_array().unwrap().len(),
            flows,
            "{name}: every flow in detail"
        );
    }
    assert!(tcp_records > 500, "TCP records: {tcp_records}");
}

#[test]
fn a_ws_accept_record_holds_the_sha1_of_key_and_guid() {
    let html = report_html(&[common::capture("ws-chat.pcap").to_str().unwrap()]);
    let page = expand(&html);
    let acc: Value = page
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "ws_accept")
        .expect("ws_accept");
    let key = acc["key"].as_str().unwrap();
    assert_eq!(acc["guid"], "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    // base64 of the SHA-1 step is the accept value, computed independently.
    let sha1 = common::unhex(acc["sha1"].as_str().unwrap());
    assert_eq!(sha1.len(), 20);
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&sha1)
    };
    assert_eq!(b64, common::websocket_accept(key));
}

/// A capture whose strings are markup: an HTTP target, header and body, a WebSocket text
/// message, close reason and subprotocol.
pub const HOSTILE: [&str; 4] = [
    "/<img src=x onerror=alert(1)>",
    "</script><script>alert(2)</script>",
    "<svg onload=alert(3)>",
    "<!--",
];

fn hostile_capture() -> Vec<u8> {
    let mut w = PcapWriter::new(common::LINKTYPE_ETHERNET);
    let mut c = TcpConn::new(([10, 0, 0, 1], 40001), ([10, 0, 0, 2], 80));
    c.handshake(&mut w);
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nX-Evil: {}\r\n\r\n",
        HOSTILE[0], HOSTILE[1]
    );
    let body = format!("{}{}", HOSTILE[2], HOSTILE[3]);
    let res = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.send(&mut w, C2S, req.as_bytes());
    c.send(&mut w, S2C, res.as_bytes());
    c.fin(&mut w);
    let mut c = TcpConn::new(([10, 0, 0, 1], 40002), ([10, 0, 0, 2], 80));
    c.handshake(&mut w);
    let up = String::from_utf8(common::upgrade_request(None))
        .unwrap()
        .replace(
            "\r\n\r\n",
            &format!("\r\nSec-WebSocket-Protocol: {}\r\n\r\n", HOSTILE[2]),
        );
    c.send(&mut w, C2S, up.as_bytes());
    c.send(&mut w, S2C, &common::upgrade_response(None));
    c.send(
        &mut w,
        C2S,
        &common::ws_frame(true, false, 1, true, HOSTILE[1].as_bytes()),
    );
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(HOSTILE[3].as_bytes());
    c.send(
        &mut w,
        S2C,
        &common::ws_frame(true, false, 8, false, &close),
    );
    c.fin(&mut w);
    w.bytes().to_vec()
}

#[test]
fn markup_from_the_capture_stays_text() {
    let (_dir, path) = common::temp_file("hostile.pcap", &hostile_capture());
    let html = report_html(&[path.to_str().unwrap()]);
    let data = block(&html, "records");
    assert!(!data.contains('<'));
    // The page has one executable script, ours, and the records reach it intact.
    assert_eq!(html.matches("<script>").count(), 1);
    let page = expand(&html).join("\n");
    for s in HOSTILE {
        let as_json = serde_json::to_string(s).unwrap();
        assert!(
            page.contains(&as_json[1..as_json.len() - 1]),
            "{s} missing from the records"
        );
    }
}

/// 10,000 flows: 9,000 HTTP exchanges and 1,000 WebSocket connections of four messages, one in
/// ten of them with unmasked client frames (flows 1, 101, 201, ...).
fn ten_thousand_flows() -> Vec<u8> {
    let mut w = PcapWriter::new(common::LINKTYPE_ETHERNET);
    for i in 0..10_000u32 {
        let client = ([10, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8], 40000);
        let mut c = TcpConn::new(client, ([10, 0, 0, 2], 80));
        c.handshake(&mut w);
        if i % 10 == 0 {
            c.send(&mut w, C2S, &common::upgrade_request(None));
            c.send(&mut w, S2C, &common::upgrade_response(None));
            let masked = i % 100 != 0;
            for n in 0..2 {
                let msg = format!("message {n} of flow {i}");
                c.send(
                    &mut w,
                    C2S,
                    &common::ws_frame(true, false, 1, masked, msg.as_bytes()),
                );
                c.send(
                    &mut w,
                    S2C,
                    &common::ws_frame(true, false, 1, false, msg.as_bytes()),
                );
            }
        } else {
            let req = format!("GET /poll?n={i} HTTP/1.1\r\nHost: example\r\n\r\n");
            let res = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
            c.send(&mut w, C2S, req.as_bytes());
            c.send(&mut w, S2C, res.as_bytes());
        }
        c.fin(&mut w);
    }
    w.bytes().to_vec()
}

#[test]
fn ten_thousand_flows_fit_in_two_megabytes_and_say_what_they_left_out() {
    let (_dir, path) = common::temp_file("10k.pcap", &ten_thousand_flows());
    let file = path.to_str().unwrap();
    let html = report_html(&[file]);
    assert!(
        html.len() <= 2 << 20,
        "a report of 10,000 flows is {} bytes",
        html.len()
    );
    eprintln!("a report of 10,000 flows: {} bytes", html.len());
    let page = expand(&html);
    let count = |ty: &str| page.iter().filter(|l| record_type(l) == ty).count();
    assert_eq!(count("flow"), 10_000, "every flow listed");
    assert_eq!(count("summary"), 1);
    let meta: Value = serde_json::from_str(block(&html, "meta")).unwrap();
    let detail: Vec<u64> = meta["detail_flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(detail.len(), 100, "{detail:?}");
    assert!(detail[..50].iter().copied().eq(1..=50));
    // 100 flows have anomalies: flow 1 is among the first 50, 50 more fit, 49 do not.
    assert!(detail[50..].iter().all(|f| f % 100 == 1), "{detail:?}");
    assert_eq!(meta["left_out"]["anomalous_flows_without_detail"], 49);
    let frames_of_other_flows = page
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "ws_frame" || v["type"] == "tcp")
        .filter(|v| !detail.contains(&v["flow"].as_u64().unwrap()))
        .count();
    assert_eq!(frames_of_other_flows, 0);
    let summary: Value = serde_json::from_str(page.last().unwrap()).unwrap();
    assert_eq!(summary["flows"], 10_000);
    // The JSON's totals are the page's, whatever it left out.
    let json = json_lines(&[file]);
    assert_eq!(json.last(), page.last());
}

// ---------------------------------------------------------------------------------------------
// In a browser

/// The Python that has Playwright: SOCKSCOPE_BROWSER_PYTHON, tests/browser/.venv (which
/// .ci/run makes), or python3.
fn browser_python() -> Result<PathBuf, String> {
    let chromium =
        std::env::var("SOCKSCOPE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Err(format!(
            "{chromium} is missing (apt-get install chromium; .ci/run installs it)"
        ));
    }
    let candidates: Vec<PathBuf> = std::env::var_os("SOCKSCOPE_BROWSER_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            common::root().join("tests/browser/.venv/bin/python"),
            PathBuf::from("python3"),
        ])
        .collect();
    for py in candidates {
        let ok = Command::new(&py)
            .args(["-c", "import playwright.sync_api"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Ok(py);
        }
    }
    Err(
        "no Python with Playwright (python3 -m venv tests/browser/.venv && \
         tests/browser/.venv/bin/pip install playwright; .ci/run does it)"
            .into(),
    )
}

/// The arrows' labels and the summary lines of `read --ladder FLOW`, in order.
fn ladder_rows(args: &[&str], flow: u64) -> Vec<String> {
    let mut cmd = Command::new(common::BIN);
    cmd.arg("read")
        .args(args)
        .args(["--ladder", &flow.to_string(), "--color", "never"]);
    let text = String::from_utf8(common::run_ok(&mut cmd)).expect("UTF-8");
    let mut rows = Vec::new();
    for line in text.lines() {
        let (Some(a), Some(b)) = (line.find('│'), line.rfind('│')) else {
            continue;
        };
        if a == b {
            continue;
        }
        let inner = line[a + '│'.len_utf8()..b].trim_matches(|c| c == '◀' || c == '▶' || c == '─');
        let inner = inner.trim();
        if !inner.is_empty() {
            rows.push(inner.to_string());
        }
    }
    rows
}

#[test]
fn every_bundled_capture_in_a_real_browser() {
    let python = match browser_python() {
        Ok(p) => p,
        Err(why) => return common::skip(format!("browser test: {why}")),
    };
    let shots = common::root().join("target/report-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let work = tempfile::tempdir().expect("temp dir");
    let mut cases = Vec::new();
    let mut add = |name: &str, args: &[&str], shot: Option<u64>, hostile: &[&str]| {
        let html = report_html(args);
        let lines = json_lines(args);
        // The ladder of every flow, as `--ladder` draws it, for the page's to match.
        let ladders: serde_json::Map<String, Value> = if args.len() == 3 {
            lines
                .iter()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .filter(|v| v["type"] == "flow")
                .map(|v| {
                    let id = v["id"].as_u64().unwrap();
                    (id.to_string(), serde_json::json!(ladder_rows(args, id)))
                })
                .collect()
        } else {
            serde_json::Map::new()
        };
        let json = lines.join("\n") + "\n";
        let (h, j) = (
            work.path().join(format!("{name}.html")),
            work.path().join(format!("{name}.jsonl")),
        );
        std::fs::write(&h, html).unwrap();
        std::fs::write(&j, json).unwrap();
        cases.push(serde_json::json!({
            "name": name, "html": h, "json": j,
            "screenshots": shot.map(|_| &shots), "flow_shot": shot, "hostile": hostile,
            "ladders": ladders,
        }));
    };
    for (name, path, port) in bundled() {
        let port = port.to_string();
        let shot = (name == "ws-chat.pcap").then_some(1);
        add(
            &name.replace('/', "-"),
            &[path.to_str().unwrap(), "-p", &port],
            shot,
            &[],
        );
    }
    // The guide's overview: every top-level capture as one.
    let all: Vec<String> = common::capture_files()
        .into_iter()
        .filter(|n| !n.contains('/') && n.ends_with(".pcap"))
        .map(|n| common::capture(&n).to_string_lossy().into_owned())
        .collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    add("all-captures", &all, Some(0), &[]);
    let (_d1, hostile) = common::temp_file("hostile.pcap", &hostile_capture());
    add("hostile", &[hostile.to_str().unwrap()], None, &HOSTILE);
    let (_d2, big) = common::temp_file("10k.pcap", &ten_thousand_flows());
    add("ten-thousand-flows", &[big.to_str().unwrap()], None, &[]);

    let manifest = work.path().join("cases.json");
    std::fs::write(&manifest, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = Command::new(&python)
        .arg(common::root().join("tests/browser/report_test.py"))
        .arg(&manifest)
        .output()
        .expect("run the browser test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tally = stdout.lines().last().unwrap_or_default().to_string();
    let passed: u64 = tally
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed > 500, "too few browser checks ran: {tally}");
    assert!(shots.join("ws-chat.pcap-flow-1.png").exists());
    assert!(shots.join("all-captures-overview.png").exists());
    eprintln!("browser: {tally}; screenshots in {}", shots.display());
}

// ---------------------------------------------------------------------------------------------
// The command line

#[test]
fn report_writes_the_file_it_is_given_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("chat.html");
    let chat = common::capture("ws-chat.pcap");
    let run = common::sockscope(&[
        "report".as_ref(),
        chat.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!("sockscope: wrote the report to {}\n", out.display())
    );
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html, report_html(&[chat.to_str().unwrap()]));
}

#[test]
fn report_refuses_what_it_cannot_do_in_one_line() {
    let chat = common::capture("ws-chat.pcap");
    let chat = chat.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let unwritable = dir.path().join("no/such/dir/r.html");
    for (args, says) in [
        (vec!["report", chat], "--output"),
        (
            vec!["report", chat, "-o", "-", "-V"],
            "-V does not apply to report",
        ),
        (
            vec!["report", chat, "-o", "-", "--json"],
            "embeds the --json records",
        ),
        (
            vec!["report", chat, "-o", "-", "--ladder", "1"],
            "click its row",
        ),
        (
            vec!["report", chat, "-o", "-", "--kind", "http"],
            "filters by kind",
        ),
        (vec!["report", "captures", "-o", "-"], "is a directory"),
        (
            vec!["report", chat, "-o", unwritable.to_str().unwrap()],
            "no such file or directory",
        ),
        (vec!["report", "missing.pcap", "-o", "-"], "missing.pcap"),
    ] {
        let run = common::sockscope(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[test]
fn an_unreadable_capture_leaves_no_empty_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.html");
    let bad = dir.path().join("bad.pcap");
    std::fs::write(&bad, b"not a capture at all").unwrap();
    let run = common::sockscope(&[
        "report".as_ref(),
        bad.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!out.exists(), "an empty page was left behind");
}
