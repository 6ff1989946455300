//! Golden output of every view, through the built binary, on the bundled captures: the default
//! summary lines, `-V`, `-x`, `--follow`, `--ladder`, `-q`, `--json`, and `check`. Snapshots live
//! in `tests/snapshots/`; each begins with the command that produced it. Colour is off, stdout
//! is a pipe and `COLUMNS` is unset, so tables fit the fixed width of piped output and the
//! output is the same everywhere.
//!
//! To review a changed view: `INSTA_UPDATE=new cargo test --test golden`, read the `.snap.new`
//! files, and rename them over the old snapshots only if the new output is right.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

/// Output of `sockscope ARGS` run from the crate root, with the command line on top.
fn run(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .output()
        .expect("run sockscope");
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    (stdout, stderr, out.status.code().unwrap_or(-1))
}

/// Runs a view that must succeed quietly and snapshots its stdout.
fn golden(name: &str, args: &[&str]) {
    // The subcommand, then `--color never`, then the rest.
    let mut full = args.to_vec();
    full.splice(1..1, ["--color", "never"]);
    let (stdout, stderr, code) = run(&full);
    assert_eq!(code, 0, "sockscope {args:?} failed: {stderr}");
    assert!(
        stderr.is_empty(),
        "sockscope {args:?} wrote to stderr: {stderr}"
    );
    let shown = format!("$ sockscope {}\n{stdout}", args.join(" "));
    insta::assert_snapshot!(name, shown);
}

#[test]
fn default_view() {
    golden("default_ws_chat", &["read", "captures/ws-chat.pcap"]);
    golden("default_ws_deflate", &["read", "captures/ws-deflate.pcap"]);
    golden(
        "default_ws_fragmented",
        &["read", "captures/ws-fragmented.pcap"],
    );
    golden(
        "default_http_keepalive",
        &["read", "captures/http-keepalive.pcap"],
    );
    golden("default_sse", &["read", "captures/sse.pcap"]);
    golden(
        "default_masked_server_frame",
        &["read", "captures/bad/ws-masked-server-frame.pcap"],
    );
    golden("default_ws_gap", &["read", "captures/bad/ws-gap.pcap"]);
}

#[test]
fn verbose_view() {
    golden(
        "verbose_masked_server_frame",
        &["read", "-V", "captures/bad/ws-masked-server-frame.pcap"],
    );
    golden(
        "verbose_accept_mismatch",
        &["read", "-V", "captures/bad/ws-accept-mismatch.pcap"],
    );
    golden("verbose_sse", &["read", "-V", "captures/sse.pcap"]);
}

#[test]
fn hex_view() {
    golden("hex_ws_chat", &["read", "-x", "captures/ws-chat.pcap"]);
    golden(
        "hex_ws_fragmented",
        &["read", "-x", "captures/ws-fragmented.pcap"],
    );
    golden(
        "hex_masked_server_frame",
        &["read", "-x", "captures/bad/ws-masked-server-frame.pcap"],
    );
}

#[test]
fn follow_view() {
    golden(
        "follow_ws_chat",
        &["read", "--follow", "1", "captures/ws-chat.pcap"],
    );
    golden(
        "follow_ws_deflate",
        &["read", "--follow", "1", "captures/ws-deflate.pcap"],
    );
    golden(
        "follow_ws_fragmented",
        &["read", "--follow", "1", "captures/ws-fragmented.pcap"],
    );
    golden(
        "follow_http_keepalive_2",
        &["read", "--follow", "2", "captures/http-keepalive.pcap"],
    );
    golden(
        "follow_sse",
        &["read", "--follow", "1", "captures/sse.pcap"],
    );
    golden(
        "follow_masked_server_frame",
        &[
            "read",
            "--follow",
            "1",
            "captures/bad/ws-masked-server-frame.pcap",
        ],
    );
}

#[test]
fn ladder_view() {
    golden(
        "ladder_ws_chat",
        &["read", "--ladder", "1", "captures/ws-chat.pcap"],
    );
    golden(
        "ladder_ws_fragmented",
        &["read", "--ladder", "1", "captures/ws-fragmented.pcap"],
    );
    golden(
        "ladder_http_keepalive_1",
        &["read", "--ladder", "1", "captures/http-keepalive.pcap"],
    );
    golden(
        "ladder_masked_server_frame",
        &[
            "read",
            "--ladder",
            "1",
            "captures/bad/ws-masked-server-frame.pcap",
        ],
    );
    golden(
        "ladder_ws_midstream",
        &["read", "--ladder", "1", "captures/ws-midstream.pcap"],
    );
}

#[test]
fn quiet_view() {
    golden("quiet_ws_chat", &["read", "-q", "captures/ws-chat.pcap"]);
    golden(
        "quiet_chromium",
        &["read", "-q", "captures/chromium-ws.pcap"],
    );
    golden(
        "quiet_upgrade_refused",
        &["read", "-q", "captures/http-upgrade-refused.pcap"],
    );
}

#[test]
fn json_view() {
    golden("json_ws_chat", &["read", "--json", "captures/ws-chat.pcap"]);
    golden(
        "json_ws_fragmented",
        &["read", "--json", "captures/ws-fragmented.pcap"],
    );
    golden(
        "json_masked_server_frame",
        &["read", "--json", "captures/bad/ws-masked-server-frame.pcap"],
    );
}

#[test]
fn check_passes_good_captures() {
    let (stdout, stderr, code) = run(&["check", "--color", "never", "captures/"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    for line in stdout.lines().filter(|l| l.contains(".pcap")) {
        assert!(line.starts_with("PASS "), "{line}");
    }
    insta::assert_snapshot!(
        "check_good",
        format!("$ sockscope check captures/\n{stdout}")
    );
}

#[test]
fn check_fails_bad_captures() {
    let (stdout, stderr, code) = run(&["check", "--color", "never", "captures/bad/"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    // Each bad capture is named after the code it must report; the four warnings pass.
    let warnings = [
        "tcp-overlap-conflict",
        "tcp-rst-out-of-window",
        "ws-gap",
        "ws-non-minimal-length",
    ];
    let mut seen = 0;
    for line in stdout.lines().filter(|l| l.contains(".pcap")) {
        seen += 1;
        let file = line
            .split_whitespace()
            .nth(1)
            .and_then(|p| Path::new(p.trim_end_matches(':')).file_stem())
            .and_then(|s| s.to_str())
            .expect("file name on the line");
        // The codes the recording says this capture must raise (captures/README.md).
        let expected = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("captures/expected/bad")
            .join(format!("{file}.json"));
        let expected: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&expected).expect("expected file"))
                .expect("expected JSON");
        let codes = expected["anomalies"].as_array().expect("anomalies list");
        assert!(!codes.is_empty(), "{file}");
        for code in codes {
            let code = code.as_str().expect("code");
            assert!(line.contains(code), "{line} does not name {code}");
        }
        if warnings.contains(&file) {
            assert!(line.starts_with("PASS "), "{line}");
            assert!(line.contains("; warnings: "), "{line}");
        } else {
            assert!(line.starts_with("FAIL "), "{line}");
        }
    }
    let bad = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/bad"))
        .expect("captures/bad")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "pcap"))
        })
        .count();
    assert_eq!(seen, bad, "{stdout}");
    insta::assert_snapshot!(
        "check_bad",
        format!("$ sockscope check captures/bad/\n{stdout}")
    );
}

#[test]
fn check_reports_unreadable_captures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("broken.pcap");
    // A pcap header, then a record claiming 1.6 GB.
    let mut bytes = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];
    bytes.extend_from_slice(b"garbagegarbagegarbage");
    std::fs::write(&bad, bytes).expect("write");
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/ws-chat.pcap");
    std::fs::copy(good, dir.path().join("ok.pcap")).expect("copy");
    let (stdout, stderr, code) = run(&["check", dir.path().to_str().expect("utf-8 path")]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("broken.pcap: at byte 24:"),
        "the error names the file and the offset: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stdout.contains("FAIL ") && stdout.contains("broken.pcap: unreadable"));
    assert!(stdout.contains("PASS ") && stdout.contains("ok.pcap: 1 flow (1 websocket)"));
    assert!(
        stdout.ends_with("2 captures: 1 passed, 0 failed, 1 unreadable\n"),
        "{stdout}"
    );
}

/// Sub-protocols: the summary lines say what each message meant, `-V` and `--follow` show its
/// tree (JSON pretty-printed), the report ends with the latency table.
#[test]
fn sub_protocol_views() {
    golden(
        "sub_default_socketio",
        &["read", "captures/sub/socketio.pcap"],
    );
    golden(
        "sub_default_mqtt",
        &["read", "-p", "15675", "captures/sub/mqtt.pcap"],
    );
    golden(
        "sub_default_stomp",
        &["read", "-p", "15674", "captures/sub/stomp.pcap"],
    );
    golden(
        "sub_default_graphql",
        &["read", "captures/sub/graphql-transport-ws.pcap"],
    );
    golden(
        "sub_default_jsonrpc",
        &["read", "captures/sub/jsonrpc.pcap"],
    );
    golden(
        "sub_follow_jsonrpc",
        &["read", "--follow", "1", "captures/sub/jsonrpc.pcap"],
    );
    golden(
        "sub_json_socketio",
        &["read", "--json", "captures/sub/socketio.pcap"],
    );
    golden(
        "sub_decode_as_none",
        &[
            "read",
            "-q",
            "--decode-as",
            "none",
            "captures/sub/jsonrpc.pcap",
        ],
    );
}

#[test]
fn filtered_views() {
    let api = "captures/api-errors.pcap";
    golden(
        "filter_ws_text_error",
        &[
            "read",
            "-Y",
            "ws.opcode == text && ws.text contains \"error\"",
            api,
        ],
    );
    golden(
        "filter_http_5xx_verbose_http_layer",
        &["read", "-V", "-O", "http", "-Y", "http.status >= 500", api],
    );
    golden(
        "filter_post_api_hex",
        &[
            "read",
            "-x",
            "-Y",
            "http.method == \"POST\" && http.uri matches \"^/api/\"",
            api,
        ],
    );
    golden(
        "filter_flows_whole",
        &[
            "read",
            "--filter-flows",
            "-Y",
            "ws.text contains \"disk\"",
            api,
        ],
    );
    golden(
        "filter_json_sse_kind",
        &[
            "read",
            "--json",
            "-Y",
            "flow.kind == sse",
            "captures/sse.pcap",
        ],
    );
    golden(
        "filter_anomaly_errors",
        &[
            "read",
            "-Y",
            "anomaly.severity == error",
            "captures/bad/ws-masked-server-frame.pcap",
        ],
    );
    golden(
        "filter_ladder_text",
        &["read", "--ladder", "2", "-Y", "ws.opcode == text", api],
    );
    golden(
        "fields_http",
        &[
            "read",
            "-T",
            "fields",
            "-E",
            "header=y",
            "-E",
            "separator=,",
            "-e",
            "frame.number",
            "-e",
            "tcp.stream",
            "-e",
            "http.method",
            "-e",
            "http.uri",
            "-e",
            "http.status",
            "-Y",
            "http",
            api,
        ],
    );
}
