//! `--json` against its contract: every line of every bundled capture's output (and of
//! `check --json`) validates against docs/schema.json, and the ordering rules of CONTRACT.md
//! hold: a flow's `flow` record comes after all its other records, `summary` is the last line,
//! and flow ids start at 1 in the order of each flow's first packet.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("docs/schema.json")).expect("docs/schema.json");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

/// Every capture under `captures/`, bad ones included.
fn captures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["captures", "captures/bad"] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .expect("captures directory")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
            .collect();
        entries.sort();
        out.extend(entries);
    }
    assert!(out.len() >= 30, "the bundled captures are missing: {out:?}");
    out
}

/// The port a capture is analyzed on (`expected/*.json` says, e.g. 8080 for ws-port8080).
fn port_of(capture: &Path) -> u64 {
    let rel = capture
        .strip_prefix(root().join("captures"))
        .expect("under captures/");
    let expected = root()
        .join("captures/expected")
        .join(rel)
        .with_extension("json");
    std::fs::read(&expected)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["port"].as_u64())
        .unwrap_or(80)
}

fn json_lines(args: &[&str]) -> (Vec<Value>, i32) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(root())
        .output()
        .expect("run sockscope");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "{args:?}: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: `{l}`: {e}")))
        .collect();
    (lines, out.status.code().unwrap_or(-1))
}

fn assert_valid(v: &jsonschema::Validator, record: &Value, what: &str) {
    let errors: Vec<String> = v.iter_errors(record).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{what}: record does not match docs/schema.json: {errors:?}\n{record}"
    );
}

/// The flow a record belongs to: `flow` in every record, the flow record included (whose
/// `id` is the same number, kept one release as an alias).
fn flow_of(r: &Value) -> Option<u64> {
    if r["type"] == "flow" {
        assert_eq!(r["id"], r["flow"], "the flow record's id alias: {r}");
    }
    r["flow"].as_u64()
}

fn check_ordering(records: &[Value], what: &str) {
    let last = records.last().expect("at least the summary");
    assert_eq!(last["type"], "summary", "{what}: summary is not last");
    assert_eq!(
        records.iter().filter(|r| r["type"] == "summary").count(),
        1,
        "{what}: one summary"
    );
    let mut closed = BTreeSet::new();
    let mut flows: BTreeMap<u64, f64> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let Some(flow) = flow_of(r) else { continue };
        assert!(
            !closed.contains(&flow),
            "{what}: line {} belongs to flow {flow}, whose flow record came earlier: {r}",
            i + 1
        );
        if r["type"] == "flow" {
            closed.insert(flow);
            flows.insert(flow, r["first_ts"].as_f64().expect("first_ts"));
        }
    }
    let n = last["flows"].as_u64().expect("summary.flows");
    let ids: Vec<u64> = flows.keys().copied().collect();
    assert_eq!(
        ids,
        (1..=n).collect::<Vec<_>>(),
        "{what}: flow ids are 1..=flows"
    );
    let firsts: Vec<f64> = flows.values().copied().collect();
    assert!(
        firsts.windows(2).all(|w| w[0] <= w[1]),
        "{what}: flow ids are not in the order of first packets: {firsts:?}"
    );
}

#[test]
fn every_record_of_every_capture_matches_the_schema_and_the_ordering_rules() {
    let v = validator();
    let mut types = BTreeSet::new();
    for capture in captures() {
        let path = capture.to_str().expect("UTF-8 path");
        let port = port_of(&capture).to_string();
        let (records, code) = json_lines(&["read", "--json", "-p", &port, path]);
        assert_eq!(code, 0, "{path}");
        for r in &records {
            assert_valid(&v, r, path);
            types.insert(r["type"].as_str().unwrap_or_default().to_string());
        }
        check_ordering(&records, path);
    }
    // The captures exercise every record type `read` can print.
    for t in [
        "http",
        "handshake",
        "ws_frame",
        "ws_message",
        "sse_event",
        "anomaly",
        "flow",
        "summary",
    ] {
        assert!(types.contains(t), "no capture produced a `{t}` record");
    }
}

#[test]
fn filtered_and_any_port_output_keeps_the_rules() {
    let v = validator();
    for args in [
        vec![
            "read",
            "--json",
            "--kind",
            "websocket",
            "captures/chromium-ws.pcap",
        ],
        vec!["read", "--json", "--any-port", "captures/two-links.pcapng"],
        vec![
            "read",
            "--json",
            "--snap-preview",
            "3",
            "captures/ws-deflate.pcap",
        ],
    ] {
        let (records, code) = json_lines(&args);
        assert_eq!(code, 0, "{args:?}");
        for r in &records {
            assert_valid(&v, r, &format!("{args:?}"));
            if args.contains(&"--snap-preview")
                && let Some(p) = r["preview"].as_str()
            {
                assert!(p.chars().count() <= 3, "{args:?}: preview too long: {r}");
            }
        }
        let last = records.last().expect("summary");
        assert_eq!(last["type"], "summary");
        if args.contains(&"--kind") {
            // Only websocket flows' records; the summary still counts every flow.
            for r in &records {
                if r["type"] == "flow" {
                    assert_eq!(r["kind"], "websocket", "{r}");
                }
            }
            assert_eq!(records.iter().filter(|r| r["type"] == "flow").count(), 1);
            assert_eq!(last["flows"], 3);
        }
    }
}

#[test]
fn check_json_matches_the_schema() {
    let v = validator();
    for (dir, want) in [("captures/", 0), ("captures/bad/", 1)] {
        let (records, code) = json_lines(&["check", "--json", dir]);
        assert_eq!(code, want, "{dir}");
        let (last, verdicts) = records.split_last().expect("records");
        assert_eq!(last["type"], "check_summary");
        for r in &records {
            assert_valid(&v, r, dir);
        }
        assert!(verdicts.iter().all(|r| r["type"] == "check"));
        assert_eq!(last["captures"].as_u64(), Some(verdicts.len() as u64));
        let failed = verdicts.iter().filter(|r| r["pass"] == false).count() as u64;
        assert_eq!(last["failed"].as_u64(), Some(failed));
        assert_eq!(failed > 0, want == 1, "{dir}");
    }
}

#[test]
fn the_schema_is_not_vacuous() {
    // The test above means something only if the schema rejects what breaks the contract.
    let v = validator();
    let good: Value = serde_json::json!({
        "type": "anomaly", "flow": 1, "dir": "c2s", "ts": 1.5, "frame": 3,
        "severity": "error", "code": "ws.reserved_opcode", "detail": "opcode 3"
    });
    assert!(v.is_valid(&good));
    for (field, bad) in [
        ("dir", serde_json::json!("up")),
        ("severity", serde_json::json!("fatal")),
        ("code", serde_json::json!("Reserved Opcode")),
        ("ts", serde_json::json!("1.5")),
    ] {
        let mut r = good.clone();
        r[field] = bad;
        assert!(!v.is_valid(&r), "{field} should be rejected: {r}");
    }
    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("detail");
    assert!(!v.is_valid(&missing));
    assert!(!v.is_valid(&serde_json::json!({"type": "no-such-record"})));
}

#[test]
fn every_field_of_the_schema_says_what_it_means() {
    let text = std::fs::read_to_string(root().join("docs/schema.json")).expect("docs/schema.json");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    fn walk(v: &Value, path: &str, missing: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Object(props)) = map.get("properties") {
                    for (name, prop) in props {
                        let described = prop["description"].as_str().is_some_and(|d| d.len() > 5);
                        if !described {
                            missing.push(format!("{path}.{name}"));
                        }
                    }
                }
                for (k, child) in map {
                    walk(child, &format!("{path}/{k}"), missing);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}[{i}]"), missing);
                }
            }
            _ => {}
        }
    }
    let mut missing = Vec::new();
    walk(&schema, "", &mut missing);
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:?}"
    );
}

/// The packet numbers the text view prints, by flow, in order.
fn text_packets(args: &[&str]) -> Vec<u64> {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(root())
        .output()
        .expect("run sockscope");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map_while(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn records_say_the_packet_that_completed_them_and_the_flow_counts_each_direction() {
    let (records, code) = json_lines(&["read", "--json", "captures/ws-chat.pcap"]);
    assert_eq!(code, 0);
    let shown = text_packets(&["read", "captures/ws-chat.pcap"]);
    let frame_of = |r: &Value| r["frame"].as_u64().unwrap_or_else(|| panic!("frame: {r}"));
    // The handshake completed with the 101, the second line of the text view.
    let hs = records
        .iter()
        .find(|r| r["type"] == "handshake")
        .expect("handshake");
    assert_eq!(frame_of(hs), shown[1]);
    // Every message completed in the packet of its last frame, which the text view shows.
    let mut last_frame = BTreeMap::new();
    for r in &records {
        match r["type"].as_str() {
            Some("ws_frame") => {
                last_frame.insert(r["dir"].to_string(), frame_of(r));
            }
            Some("ws_message") => {
                assert_eq!(
                    Some(&frame_of(r)),
                    last_frame.get(&r["dir"].to_string()),
                    "{r}"
                );
                assert!(shown.contains(&frame_of(r)));
            }
            _ => {}
        }
    }
    let flow = records.iter().find(|r| r["type"] == "flow").expect("flow");
    assert_eq!(flow["flow"], 1);
    assert_eq!(flow["id"], 1);
    let sent = |dir: &str| {
        records
            .iter()
            .filter(|r| r["type"] == "ws_message" && r["dir"] == dir)
            .count() as u64
    };
    assert_eq!(flow["messages_c2s"].as_u64(), Some(sent("c2s")));
    assert_eq!(flow["messages_s2c"].as_u64(), Some(sent("s2c")));
    assert_eq!((sent("c2s"), sent("s2c")), (4, 6));

    // Server-Sent Events, each in the packet that carried its blank line.
    let (records, _) = json_lines(&["read", "--json", "captures/sse.pcap"]);
    let events: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "sse_event")
        .collect();
    assert_eq!(events.len(), 5);
    let frames: Vec<u64> = events.iter().map(|r| frame_of(r)).collect();
    assert!(frames.windows(2).all(|w| w[0] < w[1]), "{frames:?}");
    let shown = text_packets(&["read", "captures/sse.pcap"]);
    for f in &frames {
        assert!(shown.contains(f), "event packet {f} not among {shown:?}");
    }
}

#[test]
fn previews_say_when_they_are_cut() {
    for (snap, want_cut) in [("3", true), ("1000", false)] {
        let (records, _) = json_lines(&[
            "read",
            "--json",
            "--snap-preview",
            snap,
            "captures/ws-chat.pcap",
        ]);
        let hello = records
            .iter()
            .find(|r| r["type"] == "ws_message" && r["len"] == 5)
            .expect("the 5-byte hello");
        assert_eq!(
            hello["preview_truncated"], want_cut,
            "--snap-preview {snap}: {hello}"
        );
        for r in &records {
            if let Some(p) = r["preview"].as_str() {
                let total = r["len"]
                    .as_u64()
                    .or(r["payload_len"].as_u64())
                    .or(r["body_bytes"].as_u64());
                if r["preview_truncated"] == false && r["opcode"] == "text" {
                    assert_eq!(
                        Some(p.len() as u64),
                        total,
                        "an uncut ASCII preview is the payload: {r}"
                    );
                }
            }
        }
    }
    // The SSE response's body is longer than its preview.
    let (records, _) = json_lines(&["read", "--json", "captures/sse.pcap"]);
    let body = records
        .iter()
        .find(|r| r["type"] == "http" && r["status"] == 200)
        .expect("the event stream");
    assert_eq!(body["preview_truncated"], true);
    let event = records
        .iter()
        .find(|r| r["type"] == "sse_event")
        .expect("event");
    assert_eq!(event["preview_truncated"], false);
    assert_eq!(
        event["len"].as_u64(),
        Some(event["preview"].as_str().expect("preview").len() as u64)
    );
}

/// The TLS captures, with their key logs and without: `tls` records, the flow's `tls` object,
/// the overhead rows' `tls_bytes` and the kinds `tls` and `http2` match the schema too, in the
/// contract's order.
#[test]
fn tls_captures_match_the_schema_with_and_without_their_key_logs() {
    let v = validator();
    let dir = root().join("captures/tls");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("captures/tls")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    names.sort();
    let mut kinds = BTreeSet::new();
    let mut types = BTreeSet::new();
    let mut layered = BTreeSet::new();
    for capture in &names {
        let path = capture.to_str().expect("UTF-8 path");
        let keys = capture.with_extension("keys");
        let keys = keys.to_str().expect("UTF-8 path");
        let with: &[&str] = if std::path::Path::new(keys).exists() {
            &["read", "--json", "--keylog", keys, path]
        } else {
            &["read", "--json", path]
        };
        for args in [with, &["read", "--json", path][..]] {
            let (records, code) = json_lines(args);
            assert_eq!(code, 0, "{args:?}");
            for r in &records {
                assert_valid(&v, r, path);
                types.insert(r["type"].as_str().unwrap_or_default().to_string());
                if let Some(layers) = r["layers"].as_array() {
                    // Only what was read from TLS plaintext says so, and only with keys (a
                    // key log, or the secrets a pcapng carries).
                    assert_ne!(r["type"], "tls", "{r}");
                    assert!(
                        args.contains(&"--keylog") || path.ends_with(".pcapng"),
                        "{r}"
                    );
                    assert!(
                        layers.iter().all(|l| l == "TLS 1.2" || l == "TLS 1.3"),
                        "{r}"
                    );
                    layered.insert(r["type"].as_str().unwrap_or_default().to_string());
                }
                if r["type"] == "flow" {
                    kinds.insert(r["kind"].as_str().unwrap_or_default().to_string());
                }
            }
            check_ordering(&records, path);
        }
    }
    assert!(types.contains("tls"), "{types:?}");
    for t in ["http", "handshake", "ws_frame", "ws_message", "anomaly"] {
        assert!(
            layered.contains(t),
            "no {t} record with layers: {layered:?}"
        );
    }
    for k in ["tls", "http2", "websocket", "http"] {
        assert!(kinds.contains(k), "no {k} flow: {kinds:?}");
    }
}
