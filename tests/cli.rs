//! The command line as people use it: a closed pipe ends the run quietly with status 0, colour
//! follows `--color` and `NO_COLOR`, `--kind`, `-q` and `--snap-preview` do what the contract
//! says, errors are one line on stderr with status 2 and never a panic, and the helpers
//! (`completions`, `man`, `--help`) work.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn sockscope(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(root()).env_remove("NO_COLOR");
    c
}

fn run(args: &[&str]) -> (String, String, i32) {
    let out = sockscope(args).output().expect("run sockscope");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// Asserts the contract's failure shape: status 2, one line on stderr starting with
/// `sockscope: `, no panic or backtrace.
fn assert_one_line_error(args: &[&str], expect: &[&str]) {
    let (stdout, stderr, code) = run(args);
    assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.starts_with("sockscope: "), "{args:?}: {stderr}");
    for e in expect {
        assert!(stderr.contains(e), "{args:?}: `{e}` not in {stderr}");
    }
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(bad), "{args:?}: {stderr}");
    }
    assert!(
        stdout.is_empty(),
        "{args:?} printed a report anyway: {stdout}"
    );
}

/// A large capture: the packets of ws-chat.pcap repeated `copies` times, each copy with its own
/// client port (so each is a separate flow), timestamps shifted so that copies follow each
/// other. The same idea as `examples/bigcap.rs`, small enough to build inside a test.
fn big_capture(dir: &Path, copies: u32) -> PathBuf {
    let src = std::fs::read(root().join("captures/ws-chat.pcap")).expect("ws-chat.pcap");
    // Little-endian microsecond pcap, Ethernet: 24-byte file header, 16-byte record headers.
    assert_eq!(
        &src[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "ws-chat.pcap is little-endian pcap"
    );
    let mut records = Vec::new();
    let mut off = 24;
    while off + 16 <= src.len() {
        let incl = u32::from_le_bytes(src[off + 8..off + 12].try_into().expect("4 bytes")) as usize;
        records.push(src[off..off + 16 + incl].to_vec());
        off += 16 + incl;
    }
    let mut out = src[..24].to_vec();
    for copy in 0..copies {
        let port = (20_000 + copy % 40_000) as u16;
        for rec in &records {
            let mut rec = rec.clone();
            let secs = u32::from_le_bytes(rec[..4].try_into().expect("4 bytes")) + copy;
            rec[..4].copy_from_slice(&secs.to_le_bytes());
            // IPv4 + TCP: ports at 16 + 14 + 20. The client's port is the one that is not 80.
            let tcp = 16 + 14 + 20;
            if rec.len() >= tcp + 4 && rec[16 + 12..16 + 14] == [0x08, 0x00] {
                for at in [tcp, tcp + 2] {
                    if rec[at..at + 2] != 80u16.to_be_bytes() {
                        rec[at..at + 2].copy_from_slice(&port.to_be_bytes());
                    }
                }
            }
            out.extend_from_slice(&rec);
        }
    }
    let path = dir.join("big.pcap");
    std::fs::write(&path, out).expect("write big.pcap");
    path
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let big = big_capture(dir.path(), 3000);
    assert!(std::fs::metadata(&big).expect("size").len() > 5 << 20);
    for args in [vec!["read"], vec!["read", "-V"], vec!["read", "--json"]] {
        let mut child = sockscope(&args)
            .arg(&big)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // Read a little, like `head`, then close the pipe.
        let mut stdout = child.stdout.take().expect("stdout");
        let mut buf = [0u8; 4096];
        stdout.read_exact(&mut buf).expect("some output");
        drop(stdout);
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr)
            .expect("stderr");
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn the_whole_big_capture_is_analyzed() {
    // The generator above makes distinct flows, so the pipe test really had output to stop.
    let dir = tempfile::tempdir().expect("temp dir");
    let big = big_capture(dir.path(), 50);
    let (stdout, stderr, code) = run(&["read", "-q", big.to_str().expect("path")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("Flows (50 flows, 1550 packets)"),
        "{stdout}"
    );
}

fn has_ansi(s: &str) -> bool {
    s.contains("\x1b[")
}

/// Runs `sockscope ARGS` under a pseudo-terminal (util-linux `script`), returning its output,
/// or `None` when `script` is not available.
fn on_a_terminal(args: &str, no_color: bool) -> Option<String> {
    let mut c = Command::new("script");
    c.args(["-qec", &format!("{BIN} {args}"), "/dev/null"])
        .current_dir(root())
        .env_remove("NO_COLOR");
    if no_color {
        c.env("NO_COLOR", "1");
    }
    let out = c.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn colour_follows_the_flag_the_terminal_and_no_color() {
    let file = "captures/bad/ws-masked-server-frame.pcap";
    // Piped: no colour unless asked for.
    let (auto, _, _) = run(&["read", file]);
    assert!(!has_ansi(&auto));
    let (always, _, _) = run(&["read", "--color", "always", file]);
    assert!(has_ansi(&always));
    // The anomaly is red, client and server have their colours.
    assert!(always.contains("\x1b[1;31m[ws.masked_server_frame]\x1b[0m"));
    assert!(always.contains("\x1b[36m192.0.2.1:45974\x1b[0m"));
    assert!(always.contains("\x1b[35m192.0.2.80:80\x1b[0m"));
    let (never, _, _) = run(&["read", "--color", "never", file]);
    assert!(!has_ansi(&never));
    // Without escapes the text is the same.
    let stripped = strip_ansi(&always);
    assert_eq!(stripped, never);
    // The one-flow views colour both sides too.
    let (follow, _, _) = run(&["read", "--color", "always", "--follow", "1", file]);
    assert!(follow.contains("\x1b[36m>>\x1b[0m") && follow.contains("\x1b[35m<<\x1b[0m"));

    match on_a_terminal(&format!("read {file}"), false) {
        Some(tty) => {
            assert!(has_ansi(&tty), "a terminal gets colour by default");
            let plain = on_a_terminal(&format!("read {file}"), true).expect("script ran before");
            assert!(!has_ansi(&plain), "NO_COLOR turns it off: {plain}");
            let forced = on_a_terminal(&format!("read --color never {file}"), false)
                .expect("script ran before");
            assert!(!has_ansi(&forced));
        }
        None => common::skip("the terminal half: `script` (util-linux) is not available"),
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn kind_shows_only_that_kind() {
    // chromium-ws: flow 1 http, flow 2 an idle spare connection, flow 3 websocket.
    let (stdout, _, code) = run(&["read", "--kind", "websocket", "captures/chromium-ws.pcap"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = stdout.lines().take_while(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(l.contains(" #3 "), "not the websocket flow: {l}");
    }
    assert!(stdout.contains("GET /ws HTTP/1.1"));
    assert!(!stdout.contains("/favicon.ico"));
    let table: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("│ ") && l.contains(" ┆ 192.0.2.1:"))
        .collect();
    assert_eq!(table.len(), 1, "{stdout}");
    assert!(table[0].contains("websocket"));

    let (http, _, _) = run(&["read", "--kind", "http", "captures/chromium-ws.pcap"]);
    assert!(http.contains("GET /favicon.ico HTTP/1.1"));
    assert!(!http.contains("GET /ws "));
    assert!(!http.contains("WebSocket Text"));
}

#[test]
fn quiet_prints_no_packet_lines() {
    let (stdout, _, code) = run(&["read", "-q", "captures/ws-chat.pcap"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("Flows (1 flow, 31 packets)\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("WebSocket Text"));
    assert!(!stdout.contains("GET /chat"));
    assert!(stdout.contains("Header overhead"));
}

#[test]
fn snap_preview_cuts_previews() {
    let (stdout, _, _) = run(&["read", "--snap-preview", "5", "captures/ws-chat.pcap"]);
    assert!(
        stdout.contains("WebSocket Text [FIN] \"echo:…\""),
        "{stdout}"
    );
    assert!(stdout.contains("WebSocket Text [FIN] [MASKED] \"hello\""));
    let (json, _, _) = run(&[
        "read",
        "--json",
        "--snap-preview",
        "5",
        "captures/ws-chat.pcap",
    ]);
    let mut previews = 0;
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
        if let Some(p) = v["preview"].as_str() {
            previews += 1;
            assert!(p.chars().count() <= 5, "{line}");
        }
    }
    assert!(previews > 10);
    assert!(json.contains(r#""preview":"echo:""#));
}

#[test]
fn hex_dumps_say_what_they_leave_out() {
    // ws-lengths has 65536- and 200000-byte messages, more than the 64 KiB kept per message.
    let (stdout, stderr, code) = run(&["read", "-x", "captures/ws-lengths.pcap"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Payload on the wire, masked (200000 bytes):"));
    assert!(
        stdout.contains("… 134464 more bytes not shown"),
        "200000 - 65536"
    );
    // Small payloads are dumped whole, masked and unmasked.
    assert!(stdout.contains("Payload unmasked (125 bytes):"));
    assert!(!stdout.contains("… 0 more bytes"));
}

#[test]
fn errors_are_one_line_with_status_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("cut.pcap");
    // A valid pcap header, then a record header claiming 1.6 GB.
    let mut bytes = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];
    bytes.extend_from_slice(b"garbagegarbagegarbage");
    std::fs::write(&bad, bytes).expect("write");
    let bad = bad.to_str().expect("path");
    assert_one_line_error(&["read", bad], &["cut.pcap", "at byte 24"]);
    let text = dir.path().join("notes.pcap");
    std::fs::write(&text, "not a capture at all").expect("write");
    assert_one_line_error(
        &["read", text.to_str().expect("path")],
        &["notes.pcap", "at byte 0", "not a pcap or pcapng"],
    );
    assert_one_line_error(
        &["read", "/nonexistent/x.pcap"],
        &[
            "/nonexistent/x.pcap",
            "no such file or directory; check the name and the path",
        ],
    );
    assert_one_line_error(
        &["read", "--bogus", "captures/ws-chat.pcap"],
        &["--bogus", "sockscope read --help"],
    );
    assert_one_line_error(&["read"], &["<FILE>"]);
    assert_one_line_error(
        &["read", "--kind", "nope", "captures/ws-chat.pcap"],
        &["possible values: http, websocket, sse, long-poll, tls, http2, other"],
    );
    assert_one_line_error(
        &["read", "--follow", "7", "captures/ws-chat.pcap"],
        &["flow 7 is not in the capture"],
    );
    assert_one_line_error(
        &[
            "read",
            "--follow",
            "1",
            "--ladder",
            "1",
            "captures/ws-chat.pcap",
        ],
        &["pick one"],
    );
    assert_one_line_error(&["check", "/nonexistent-dir"], &["/nonexistent-dir"]);
}

#[test]
fn a_capture_cut_midway_still_reports_what_was_read() {
    // Like tshark on a truncated file: the packets before the damage are shown, then the error.
    let dir = tempfile::tempdir().expect("temp dir");
    let src = std::fs::read(root().join("captures/ws-chat.pcap")).expect("capture");
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &src[..src.len() - 30]).expect("write");
    let (stdout, stderr, code) = run(&["read", cut.to_str().expect("path")]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cut.pcap"), "{stderr}");
    assert!(stdout.contains("GET /chat HTTP/1.1"));
    assert!(stdout.contains("Header overhead"));
}

#[test]
fn help_completions_and_man_page() {
    for cmd in ["read", "live", "check"] {
        let (stdout, _, code) = run(&[cmd, "--help"]);
        assert_eq!(code, 0);
        assert!(stdout.contains("Examples:"), "{cmd} --help has examples");
        assert!(stdout.contains(&format!("sockscope {cmd}")) || cmd == "live");
    }
    let (top, _, code) = run(&["--help"]);
    assert_eq!(code, 0);
    for cmd in ["read", "live", "check", "completions", "man"] {
        assert!(top.contains(cmd), "{top}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let (script, stderr, code) = run(&["completions", shell]);
        assert_eq!(code, 0, "{stderr}");
        assert!(script.contains("sockscope"), "{shell}");
        assert!(
            script.contains("snap-preview"),
            "{shell} completes the options"
        );
    }
    let (man, stderr, code) = run(&["man"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        man.starts_with(".ie") || man.contains(".TH sockscope"),
        "{man}"
    );
    assert!(man.contains("read"));
}

#[test]
fn follow_and_ladder_print_only_their_flow() {
    let (follow, _, code) = run(&["read", "--follow", "2", "captures/http-keepalive.pcap"]);
    assert_eq!(code, 0);
    assert!(follow.starts_with("Follow flow 2 (tcp.stream 1): client 192.0.2.1:41262"));
    assert!(!follow.contains("41256"), "flow 1's port: {follow}");
    assert!(!follow.contains("Header overhead"));
    assert!(follow.contains("Flow 2 summary: http"));
    let (ladder, _, code) = run(&["read", "--ladder", "3", "captures/chromium-ws.pcap"]);
    assert_eq!(code, 0);
    assert!(ladder.contains("GET /ws HTTP/1.1"));
    assert!(!ladder.contains("favicon"));
    assert!(ladder.contains("✓ WebSocket accept key valid"));
    assert!(ladder.contains("Flow 3 summary: websocket"));
}

#[test]
fn progress_bar_whenever_stderr_is_a_terminal_and_the_report_does_not_scroll_there() {
    let dir = tempfile::tempdir().expect("temp dir");
    let big = big_capture(dir.path(), 12_000);
    assert!(std::fs::metadata(&big).expect("size").len() > 33 << 20);
    let big = big.to_str().expect("path");
    // Piped stderr: never.
    let (_, stderr, code) = run(&["read", "-q", big]);
    assert_eq!(code, 0);
    assert!(stderr.is_empty(), "{stderr}");
    let Some(quiet) = on_a_terminal(&format!("read -q {big}"), false) else {
        common::skip("the terminal half: `script` (util-linux) is not available");
        return;
    };
    assert!(
        quiet.contains("reading ["),
        "a bar while -q works on a terminal"
    );
    assert!(quiet.contains("Flows (12000 flows"), "{quiet}");
    // Wherever stdout goes, whatever the format: a pipe, a file, /dev/null.
    let out = dir.path().join("out.json");
    for args in [
        format!("read --json {big} | tail -1"),
        format!("read -q {big} | cat"),
        format!("read -V {big} > /dev/null"),
        format!("read --json {big} > {}", out.display()),
        format!("check {big} {big} | cat"),
    ] {
        let shown = on_a_terminal(&args, false).expect("script ran before");
        assert!(shown.contains(" ["), "a bar for `{args}`: {shown}");
        assert!(
            shown.contains("reading [") || shown.contains("checking "),
            "{shown}"
        );
    }
    // Not where the report itself scrolls on the terminal, nor when asked not to.
    for args in [
        format!("read --json {big}"),
        format!("read -q --no-progress {big}"),
    ] {
        let shown = on_a_terminal(&args, false).expect("script ran before");
        assert!(!shown.contains("reading ["), "no bar for `{args}`");
    }
}

// ---------------------------------------------------------------------------------------------
// `check` as a CI gate

/// `sockscope ARGS` as assert_cmd runs it: from the crate root, colour and width not inherited.
fn cmd(args: &[&str]) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(BIN);
    c.args(args)
        .current_dir(root())
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS");
    c
}

/// stdout, stderr and status of an assert_cmd run.
fn outcome(c: &mut assert_cmd::Command) -> (String, String, i32) {
    let out = c.output().expect("run sockscope");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn json_records(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// A directory holding a copy of `good` and a capture cut after its header.
fn dir_with_a_broken_capture(good: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bytes = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];
    bytes.extend_from_slice(b"garbagegarbagegarbage");
    std::fs::write(dir.path().join("broken.pcap"), bytes).expect("write");
    let name = Path::new(good).file_name().expect("file name");
    std::fs::copy(root().join(good), dir.path().join(name)).expect("copy");
    dir
}

#[test]
fn check_status_is_the_verdict_whatever_happens_to_stdout() {
    // `| head -1` under pipefail, as a CI step runs it.
    for (args, want) in [
        ("check captures/bad", 1),
        ("check --json captures/bad", 1),
        ("check -v captures/bad", 1),
        ("check --format github captures/bad", 1),
        ("check --format junit captures/bad", 1),
        ("check captures", 0),
    ] {
        let out = Command::new("bash")
            .args(["-c", &format!("set -o pipefail; {BIN} {args} | head -1")])
            .current_dir(root())
            .output()
            .expect("bash");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(want), "{args}: {stdout}{stderr}");
        assert_eq!(stdout.lines().count(), 1, "{args}: {stdout}");
        assert!(stderr.is_empty(), "{args}: {stderr}");
    }
    // stdout closed before a byte is written.
    let closed = || {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        writer
    };
    for (args, want) in [
        (vec!["check", "captures/bad"], 1),
        (vec!["check", "--format", "sarif", "captures/bad"], 1),
        (vec!["check", "captures"], 0),
        // `read` ends quietly with 0, as ripgrep does.
        (vec!["read", "captures/ws-chat.pcap"], 0),
    ] {
        let out = sockscope(&args)
            .stdout(closed())
            .stderr(Stdio::piped())
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(want), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    // An unreadable capture still gives 2 with the output gone.
    let dir = dir_with_a_broken_capture("captures/bad/ws-invalid-utf8.pcap");
    let out = sockscope(&["check", dir.path().to_str().expect("path")])
        .stdout(closed())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken.pcap: at byte 24"), "{stderr}");
}

#[test]
fn check_verbose_lists_each_anomaly_with_flow_packet_direction_and_detail() {
    let file = "captures/bad/ws-masked-server-frame.pcap";
    // What `read --json` says about the anomaly is what `check -v` lists.
    let (json, _, _) = outcome(&mut cmd(&["read", "--json", file]));
    let anomaly = json_records(&json)
        .into_iter()
        .find(|r| r["type"] == "anomaly")
        .expect("an anomaly record");
    let want = format!(
        "    error   ws.masked_server_frame  flow {}, packet {}, {}: {}\n",
        anomaly["flow"],
        anomaly["frame"],
        anomaly["dir"].as_str().expect("dir"),
        anomaly["detail"].as_str().expect("detail"),
    );
    let (verbose, stderr, code) = outcome(&mut cmd(&["check", "-v", file]));
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        verbose,
        format!(
            "FAIL {file}: errors: ws.masked_server_frame ×1\n{want}1 captures: 0 passed, 1 failed\n"
        )
    );
    // -V and --verbose are the same option.
    for flag in ["-V", "--verbose"] {
        assert_eq!(outcome(&mut cmd(&["check", flag, file])).0, verbose);
    }
    // Warnings of passing captures are listed too; -q leaves out the passing captures.
    let (gap, _, code) = outcome(&mut cmd(&["check", "-v", "captures/bad/ws-gap.pcap"]));
    assert_eq!(code, 0);
    assert!(
        gap.contains(
            "    warning tcp.gap  flow 1, packet 20, s2c: 42 bytes missing from the s2c stream\n"
        ),
        "{gap}"
    );
    let (quiet, _, _) = outcome(&mut cmd(&[
        "check",
        "-q",
        "-v",
        "captures/bad/ws-gap.pcap",
        file,
    ]));
    assert!(!quiet.contains("PASS") && quiet.contains(&want), "{quiet}");
}

#[test]
fn check_json_carries_the_findings_and_the_error_of_an_unreadable_capture() {
    let dir = dir_with_a_broken_capture("captures/bad/ws-gap.pcap");
    let (stdout, stderr, code) = outcome(&mut cmd(&[
        "check",
        "--json",
        dir.path().to_str().expect("path"),
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let records = json_records(&stdout);
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/schema.json")).expect("schema"),
    )
    .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    for r in &records {
        assert!(validator.is_valid(r), "{r}");
    }
    let broken = &records[0];
    assert_eq!(broken["pass"], false);
    assert_eq!(broken["unreadable"], true);
    let error = broken["error"].as_str().expect("error text");
    assert!(error.starts_with("at byte 24: "), "{error}");
    assert!(!stdout.contains("see the message above"));
    let gap = &records[1];
    assert_eq!(gap["pass"], true);
    let f = &gap["findings"][0];
    assert_eq!(f["code"], "tcp.gap");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["effect"], "warn");
    assert_eq!(
        (f["flow"].as_u64(), f["frame"].as_u64()),
        (Some(1), Some(20))
    );
    assert_eq!(f["dir"], "s2c");
    assert_eq!(f["detail"], "42 bytes missing from the s2c stream");
    assert_eq!(records[2]["type"], "check_summary");
    assert_eq!(records[2]["unreadable"], 1);
}

/// Error-severity anomalies of each bad capture, by file, from `read --json`.
fn error_anomalies(file: &str) -> Vec<String> {
    let (json, _, _) = outcome(&mut cmd(&["read", "--json", "--any-port", file]));
    json_records(&json)
        .into_iter()
        .filter(|r| r["type"] == "anomaly" && r["severity"] == "error")
        .map(|r| r["code"].as_str().expect("code").to_string())
        .collect()
}

fn bad_captures() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("captures/bad"))
        .expect("captures/bad")
        .filter_map(Result::ok)
        .map(|e| format!("captures/bad/{}", e.file_name().to_string_lossy()))
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    files.sort();
    files
}

#[test]
fn junit_has_a_testcase_per_capture_and_a_failure_per_error_anomaly() {
    let (xml, stderr, code) = outcome(&mut cmd(&["check", "--format", "junit", "captures/bad"]));
    assert_eq!(code, 1, "{stderr}");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("a testsuite");
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let files = bad_captures();
    assert_eq!(cases.len(), files.len());
    assert_eq!(
        suite.attribute("tests"),
        Some(files.len().to_string().as_str())
    );
    let mut failing = 0;
    for (case, file) in cases.iter().zip(&files) {
        assert_eq!(case.attribute("name"), Some(file.as_str()));
        let failures: Vec<&str> = case
            .children()
            .filter(|n| n.has_tag_name("failure"))
            .map(|n| n.attribute("type").expect("type"))
            .collect();
        assert_eq!(failures, error_anomalies(file), "{file}");
        failing += usize::from(!failures.is_empty());
        for f in case.children().filter(|n| n.has_tag_name("failure")) {
            assert!(
                f.attribute("message")
                    .is_some_and(|m| m.starts_with("flow "))
            );
        }
    }
    assert_eq!(
        suite.attribute("failures"),
        Some(failing.to_string().as_str())
    );
    assert_eq!(failing, 16);
    // An unreadable capture is an error, with its message.
    let dir = dir_with_a_broken_capture("captures/ws-chat.pcap");
    let (xml, _, code) = outcome(&mut cmd(&[
        "check",
        "--format",
        "junit",
        dir.path().to_str().expect("path"),
    ]));
    assert_eq!(code, 2);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let error = doc
        .descendants()
        .find(|n| n.has_tag_name("error"))
        .expect("an error element");
    assert!(
        error
            .attribute("message")
            .is_some_and(|m| m.contains("at byte 24"))
    );
}

fn sarif_validator() -> jsonschema::Validator {
    // The OASIS SARIF 2.1.0 schema (sarif-schema-2.1.0.json), vendored for this test.
    let text = std::fs::read_to_string(root().join("tests/data/sarif-schema-2.1.0.json"))
        .expect("SARIF schema");
    let mut schema: serde_json::Value = serde_json::from_str(&text).expect("schema JSON");
    // The 2.1.0 schema's pattern for `language` (of a run and of a tool component) has a stray
    // `]` that the validator's regex check refuses; the errata corrected it to this. sockscope
    // writes no `language`.
    for def in ["run", "toolComponent"] {
        let language = &mut schema["definitions"][def]["properties"]["language"]["pattern"];
        assert_eq!(language, "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$");
        *language = serde_json::json!("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
    }
    jsonschema::validator_for(&schema).expect("the SARIF schema compiles")
}

#[test]
fn sarif_is_valid_sarif_2_1_0_with_a_result_per_anomaly() {
    let validator = sarif_validator();
    let (out, stderr, code) = outcome(&mut cmd(&["check", "--format", "sarif", "captures/bad"]));
    assert_eq!(code, 1, "{stderr}");
    let log: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The schema is not vacuous: a log without its version is refused.
    let mut broken = log.clone();
    broken.as_object_mut().expect("object").remove("version");
    assert!(!validator.is_valid(&broken));
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!validator.is_valid(&broken));
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    let results = run["results"].as_array().expect("results");
    let files = bad_captures();
    assert_eq!(results.len(), files.len(), "one anomaly per bad capture");
    for r in results {
        let id = r["ruleId"].as_str().expect("ruleId");
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], id);
        let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .expect("uri");
        assert!(files.iter().any(|f| f == uri), "{uri}");
        let level = if error_anomalies(uri).contains(&id.to_string()) {
            "error"
        } else {
            "warning"
        };
        assert_eq!(r["level"], level, "{r}");
        assert!(
            r["message"]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("flow "))
        );
    }
    // Allowed findings are suppressed; unreadable captures and stdin are valid too.
    let dir = dir_with_a_broken_capture("captures/bad/ws-gap.pcap");
    let (out, _, code) = outcome(&mut cmd(&[
        "check",
        "--format",
        "sarif",
        "--allow",
        "tcp.gap",
        dir.path().to_str().expect("path"),
    ]));
    assert_eq!(code, 2);
    let log: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert!(validator.is_valid(&log));
    let results = log["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results[0]["ruleId"], "check.unreadable");
    assert_eq!(
        results[1]["suppressions"][0]["justification"],
        "--allow tcp.gap"
    );
    let stdin =
        std::fs::File::open(root().join("captures/bad/ws-invalid-utf8.pcap")).expect("open");
    let out = sockscope(&["check", "--format", "sarif", "-"])
        .stdin(stdin)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(validator.is_valid(&log));
}

#[test]
fn github_format_annotates_each_finding_at_its_file() {
    let (out, stderr, code) = outcome(&mut cmd(&[
        "check",
        "--format",
        "github",
        "captures/bad/ws-gap.pcap",
        "captures/bad/ws-invalid-utf8.pcap",
    ]));
    assert_eq!(code, 1, "{stderr}");
    let annotations: Vec<&str> = out.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(
        annotations,
        [
            "::warning file=captures/bad/ws-gap.pcap,title=tcp.gap::flow 1, packet 20, s2c: \
             42 bytes missing from the s2c stream",
            "::error file=captures/bad/ws-invalid-utf8.pcap,title=ws.invalid_utf8::flow 1, \
             packet 12, c2s: text message is not UTF-8 at byte 3",
        ]
    );
    // The plain lines are there for the log reader.
    assert!(out.contains("FAIL captures/bad/ws-invalid-utf8.pcap: errors: ws.invalid_utf8 ×1"));
    assert!(out.ends_with("2 captures: 1 passed, 1 failed\n"), "{out}");
}

/// The PASS / FAIL word of each capture, by file name.
fn verdicts(stdout: &str) -> std::collections::BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| {
            let (word, rest) = l.split_once(' ')?;
            let file = rest.split(": ").next()?;
            matches!(word, "PASS" | "FAIL").then(|| {
                let name = Path::new(file).file_stem().expect("name");
                (name.to_string_lossy().into_owned(), word.to_string())
            })
        })
        .collect()
}

#[test]
fn deny_and_allow_rules_decide_with_the_more_specific_pattern() {
    let (out, stderr, code) = outcome(&mut cmd(&[
        "check",
        "--deny",
        "ws.*",
        "--allow",
        "tcp.gap",
        "captures/bad",
    ]));
    assert_eq!(code, 1, "{stderr}");
    let v = verdicts(&out);
    let captures = std::fs::read_dir("captures/bad")
        .expect("captures/bad")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "pcap"))
        })
        .count();
    assert_eq!(v.len(), captures);
    let passing: Vec<&str> = v
        .iter()
        .filter(|(_, w)| *w == "PASS")
        .map(|(n, _)| n.as_str())
        .collect();
    // ws.non_minimal_length is a warning, denied by ws.*; tcp.gap is allowed; the TCP warnings
    // are not denied.
    assert_eq!(
        passing,
        ["tcp-overlap-conflict", "tcp-rst-out-of-window", "ws-gap"]
    );
    assert!(out.contains(
        "FAIL captures/bad/ws-non-minimal-length.pcap: errors: ws.non_minimal_length ×1\n"
    ));
    assert!(out.contains("; allowed: tcp.gap ×1\n"), "{out}");
    // Everything allowed: the gate opens.
    let (out, _, code) = outcome(&mut cmd(&["check", "--allow", "*", "captures/bad"]));
    assert_eq!(code, 0, "{out}");
    // An exact code beats a glob, whichever side each is on.
    let file = "captures/bad/ws-non-minimal-length.pcap";
    let exact_allow = [
        "check",
        "--deny",
        "ws.*",
        "--allow",
        "ws.non_minimal_length",
        file,
    ];
    assert_eq!(outcome(&mut cmd(&exact_allow)).2, 0);
    let exact_deny = [
        "check",
        "--allow",
        "ws.*",
        "--deny",
        "ws.non_minimal_length",
        file,
    ];
    assert_eq!(outcome(&mut cmd(&exact_deny)).2, 1);
    // Comma-separated lists, and --strict under the rules.
    let listed = [
        "check",
        "--strict",
        "--allow",
        "tcp.gap,tcp.overlap_conflict",
        "captures/bad",
    ];
    let v = verdicts(&outcome(&mut cmd(&listed)).0);
    assert_eq!(v["ws-gap"], "PASS");
    assert_eq!(v["tcp-overlap-conflict"], "PASS");
    assert_eq!(v["ws-non-minimal-length"], "FAIL");
    // A pattern that matches no code is refused, with the nearest code.
    assert_one_line_error(
        &["check", "--deny", "ws.masked_frame", "captures"],
        &[
            "--deny ws.masked_frame: no such anomaly code",
            "did you mean ws.masked_server_frame?",
        ],
    );
    assert_one_line_error(
        &["check", "--allow", "wss.*", "captures"],
        &["--allow wss.*: matches no anomaly code"],
    );
}

#[test]
fn min_flows_and_fail_if_empty_catch_captures_with_nothing_to_check() {
    let file = "captures/ws-port8080.pcap";
    let (out, _, code) = outcome(&mut cmd(&["check", "-p", "80", file]));
    assert_eq!(code, 0);
    assert!(
        out.starts_with(
            "PASS captures/ws-port8080.pcap: 0 flows; note: 1 TCP flow on other ports skipped"
        ),
        "{out}"
    );
    assert!(out.contains("--fail-if-empty"), "{out}");
    let (out, _, code) = outcome(&mut cmd(&["check", "--fail-if-empty", "-p", "80", file]));
    assert_eq!(code, 1);
    assert!(
        out.starts_with("FAIL captures/ws-port8080.pcap: 0 flows, --min-flows asks for 1"),
        "{out}"
    );
    assert_eq!(outcome(&mut cmd(&["check", "--fail-if-empty", file])).2, 0);
    let (out, _, code) = outcome(&mut cmd(&[
        "check",
        "--min-flows",
        "2",
        "captures/ws-chat.pcap",
    ]));
    assert_eq!(code, 1);
    assert!(out.contains("1 flow, --min-flows asks for 2"), "{out}");
    let (json, _, _) = outcome(&mut cmd(&[
        "check",
        "--json",
        "--min-flows",
        "2",
        "captures/ws-chat.pcap",
    ]));
    let r = &json_records(&json)[0];
    assert_eq!(r["min_flows"], 2);
    assert_eq!(r["reasons"][0], "1 flow, --min-flows asks for 2");
    assert_eq!(
        outcome(&mut cmd(&[
            "check",
            "--min-flows",
            "1",
            "captures/ws-chat.pcap"
        ]))
        .2,
        0
    );
    assert_one_line_error(&["check", "--min-flows", "0", file], &["at least 1"]);
    assert_one_line_error(
        &["check", "--min-flows", "1", "--fail-if-empty", file],
        &["--fail-if-empty", "cannot be used with"],
    );
}

#[test]
fn check_reads_one_capture_from_stdin() {
    for (file, want, line) in [
        (
            "captures/bad/ws-invalid-utf8.pcap",
            1,
            "FAIL -: errors: ws.invalid_utf8 ×1\n",
        ),
        (
            "captures/ws-chat.pcap",
            0,
            "PASS -: 1 flow (1 websocket): 2 HTTP messages, 16 WebSocket frames, 10 WebSocket messages\n",
        ),
    ] {
        let stdin = std::fs::read(root().join(file)).expect("capture");
        let (out, stderr, code) = outcome(cmd(&["check", "-"]).write_stdin(stdin));
        assert_eq!(code, want, "{stderr}");
        assert!(out.starts_with(line), "{out}");
    }
    assert_one_line_error(&["check", "-", "-"], &["only once"]);
}

#[test]
fn check_refuses_the_options_it_would_ignore_and_honours_the_others() {
    let file = "captures/bad/http-parse-error.pcap";
    for (args, says) in [
        (&["-x"][..], "sockscope read -x FILE"),
        (&["--follow", "1"], "sockscope read --follow N FILE"),
        (&["--ladder", "1"], "sockscope read --ladder N FILE"),
        (&["--digest"], "sockscope read --json --digest FILE"),
        (&["--json", "--format", "junit"], "pick one format"),
        (&["-v", "--format", "json"], "lists every anomaly already"),
        (&["-q", "--format", "sarif"], "reports every capture"),
    ] {
        let mut all = vec!["check"];
        all.extend_from_slice(args);
        all.push(file);
        assert_one_line_error(&all, &[says]);
    }
    // --kind judges the flows of that kind only.
    let (out, _, code) = outcome(&mut cmd(&["check", "--kind", "http", file]));
    assert_eq!(code, 1, "{out}");
    let (out, _, code) = outcome(&mut cmd(&["check", "--kind", "websocket", file]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with(
            "PASS captures/bad/http-parse-error.pcap: 0 flows; note: no websocket flow \
             (--kind websocket)"
        ),
        "{out}"
    );
    // --json is --format json; --color paints the verdict.
    assert_eq!(
        outcome(&mut cmd(&["check", "--json", file])).0,
        outcome(&mut cmd(&["check", "--format", "json", file])).0
    );
    let (out, _, _) = outcome(&mut cmd(&["check", "--color", "always", file]));
    assert!(out.starts_with("\x1b[1;31mFAIL\x1b[0m "), "{out}");
}

// ---------------------------------------------------------------------------------------------
// The command line

#[test]
fn ports_take_lists_and_ranges() {
    let file = "captures/ws-port8080.pcap";
    for ports in ["80,8080", "8000-8100", "79-81,8080"] {
        let (out, stderr, code) = outcome(&mut cmd(&["read", "-q", "-p", ports, file]));
        assert_eq!(code, 0, "{stderr}");
        assert!(out.starts_with("Flows (1 flow, "), "-p {ports}: {out}");
        assert!(out.contains("websocket"), "-p {ports}");
    }
    let (out, _, _) = outcome(&mut cmd(&["read", "-q", "-p", "80", file]));
    assert!(
        out.contains("1 TCP flow on other ports was skipped"),
        "{out}"
    );
    for (args, says) in [
        (&["read", "-p", "0", file][..], "port 0"),
        (&["read", "-p", "9000-8000", file], "write 8000-9000"),
        (&["read", "-p", "80,,81", file], "empty port"),
        (&["read", "-p", "65536", file], "above 65535"),
        (&["read", "--max-flows", "0", file], "at least 1"),
    ] {
        assert_one_line_error(args, &[says, "(see `sockscope read --help`)"]);
    }
    assert_one_line_error(
        &["check", "-p", "0", file],
        &["port 0", "(see `sockscope check --help`)"],
    );
}

#[test]
fn mistakes_on_the_command_line_get_a_way_forward() {
    for (args, says) in [
        (&["raed", "x.pcap"][..], "did you mean 'read'?"),
        (&["chek", "captures"], "did you mean 'check'?"),
        (&["read", "--jsn", "x.pcap"], "did you mean '--json'?"),
        (
            &["check", "--alow", "tcp.gap", "captures"],
            "did you mean '--allow'?",
        ),
        (&["live", "--duraton", "1"], "did you mean '--duration'?"),
    ] {
        assert_one_line_error(args, &[says]);
    }
    // A value error names the subcommand's help.
    assert_one_line_error(
        &["check", "--format", "xml", "captures"],
        &[
            "possible values: text, json, junit, sarif, github",
            "sockscope check --help",
        ],
    );
    // A capture where the command belongs gets the command that reads it.
    assert_one_line_error(
        &["captures/ws-chat.pcap"],
        &["to analyze it run `sockscope read captures/ws-chat.pcap`"],
    );
    assert_one_line_error(&["captures"], &["`sockscope check captures`"]);
    // Bare `sockscope`: the help, as a usage error.
    let (stdout, stderr, code) = run(&[]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("Usage: sockscope <COMMAND>"), "{stderr}");
    for c in ["read", "live", "check"] {
        assert!(stderr.contains(c), "{stderr}");
    }
}

#[test]
fn options_that_do_nothing_together_are_refused() {
    let file = "captures/ws-chat.pcap";
    for (args, says) in [
        (
            &["-q", "-V"][..],
            "-q leaves out the packet lines that -V adds to",
        ),
        (
            &["-q", "-x"],
            "-q leaves out the packet lines that -x adds to",
        ),
        (&["--digest"], "use it with --json"),
        (&["--json", "-V"], "-V changes the text view only"),
        (&["--json", "-x"], "-x changes the text view only"),
        (&["--json", "-q"], "-q changes the text view only"),
        (
            &["--follow", "1", "-V"],
            "--follow shows one flow by itself; -V",
        ),
        (
            &["--ladder", "1", "--kind", "http"],
            "--ladder shows one flow by itself; --kind",
        ),
        (&["--follow", "1", "--json"], "--follow prints text"),
    ] {
        // `live` says more on stderr with -V, so -V is never idle there.
        let commands: &[&str] = if args.contains(&"-V") {
            &["read"]
        } else {
            &["read", "live"]
        };
        for &command in commands {
            let mut all = vec![command];
            all.extend_from_slice(args);
            if command == "read" {
                all.push(file);
            }
            assert_one_line_error(&all, &[says]);
        }
    }
    // What does go together still works.
    for args in [
        &["read", "--json", "--digest", file][..],
        &["read", "-V", "-x", file],
        &["read", "-q", "--kind", "websocket", file],
    ] {
        assert_eq!(run(args).2, 0, "{args:?}");
    }
}

#[test]
fn errors_speak_plainly_and_name_what_failed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing_dir = dir.path().join("no/such/dir");
    let missing_dir = missing_dir.to_str().expect("path");
    for (args, says) in [
        (
            &["read", "/nonexistent/x.pcap"][..],
            "/nonexistent/x.pcap: cannot open: no such file or directory; check the name",
        ),
        (
            &["check", "/nonexistent/x.pcap"],
            "/nonexistent/x.pcap: no such file or directory",
        ),
        (
            &["read", "captures"],
            "captures: is a directory; name capture files",
        ),
        (&["man", "--dir", missing_dir], "no such file or directory"),
    ] {
        let (stdout, stderr, code) = run(args);
        assert_eq!(code, 2, "{args:?}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("os error"), "{args:?}: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// Terminal and help

/// The widest line of `s`, in characters.
fn widest(s: &str) -> usize {
    s.lines()
        .map(|l| l.trim_end_matches('\r').chars().count())
        .max()
        .unwrap_or(0)
}

#[test]
fn tables_fit_the_width_without_splitting_a_token() {
    let file = "captures/bad/ws-masked-server-frame.pcap";
    let (wide, _, _) = outcome(&mut cmd(&["read", "-q", file]));
    for width in ["60", "80", "100"] {
        let (out, stderr, code) = outcome(cmd(&["read", "-q", file]).env("COLUMNS", width));
        assert_eq!(code, 0, "{stderr}");
        let width: usize = width.parse().expect("number");
        assert!(widest(&out) <= width, "COLUMNS={width}:\n{out}");
        for token in [
            "192.0.2.1:45974",
            "192.0.2.80:80",
            "websocket",
            "ws.masked_server_frame",
        ] {
            assert!(
                out.contains(token),
                "COLUMNS={width}: {token} split:\n{out}"
            );
        }
        // Every word in a narrow table is a word (or the cut start of one) of the wide report.
        let words: std::collections::BTreeSet<&str> = wide.split_whitespace().collect();
        let cells = out.lines().filter(|l| l.starts_with('│'));
        for w in cells
            .flat_map(str::split_whitespace)
            .filter(|w| w.chars().any(char::is_alphanumeric))
        {
            let w = w.trim_end_matches('…');
            assert!(
                words.iter().any(|x| x.contains(w)),
                "COLUMNS={width}: `{w}` is not a word of the report:\n{out}"
            );
        }
    }
    // Piped without COLUMNS: a fixed, readable width.
    for file in [
        "captures/bad/ws-accept-mismatch.pcap",
        "captures/http-upgrade-refused.pcap",
        "captures/bad/ws-gap.pcap",
    ] {
        let (out, _, _) = outcome(&mut cmd(&["read", "-q", file]));
        assert!(widest(&out) <= 120, "{file}:\n{out}");
    }
    // A real terminal's width.
    let Some(tty) = on_a_terminal_sized(60, &format!("read -q --color never {file}")) else {
        eprintln!("skipped the terminal half: `script` (util-linux) is not available");
        return;
    };
    assert!(widest(&tty) <= 60, "{tty}");
    assert!(tty.contains("192.0.2.1:45974"), "{tty}");
}

/// Like [`on_a_terminal`], on a terminal `cols` columns wide.
fn on_a_terminal_sized(cols: u16, args: &str) -> Option<String> {
    let out = Command::new("script")
        .args([
            "-qec",
            &format!("stty cols {cols}; {BIN} {args}"),
            "/dev/null",
        ])
        .current_dir(root())
        .env_remove("COLUMNS")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn man_writes_a_page_for_every_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (stdout, stderr, code) = run(&["man", "--dir", dir.path().to_str().expect("path")]);
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<String> = stdout
        .lines()
        .map(|l| {
            Path::new(l)
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "sockscope.1",
            "sockscope-read.1",
            "sockscope-report.1",
            "sockscope-live.1",
            "sockscope-check.1",
            "sockscope-completions.1",
            "sockscope-man.1",
        ]
    );
    for name in &names {
        let page = std::fs::read_to_string(dir.path().join(name)).expect("page");
        for section in [
            "NAME",
            "SYNOPSIS",
            "EXAMPLES",
            "\"EXIT STATUS\"",
            "ENVIRONMENT",
            "FILES",
        ] {
            assert!(
                page.contains(&format!(".SH {section}")),
                "{name}: {section}"
            );
        }
    }
    let check = std::fs::read_to_string(dir.path().join("sockscope-check.1")).expect("page");
    for s in [
        "\\-\\-deny",
        "\\-\\-min\\-flows",
        ".SH RULES",
        "NO_COLOR",
        "COLUMNS",
    ] {
        assert!(check.contains(s), "check page lacks {s}");
    }
    assert!(
        !check.contains("\\-\\-ladder"),
        "check's page lists a refused option"
    );
    // One page on stdout, as `man` and `man COMMAND`.
    let (read, _, code) = run(&["man", "read"]);
    assert_eq!(code, 0);
    assert_eq!(
        read,
        std::fs::read_to_string(dir.path().join("sockscope-read.1")).expect("page")
    );
    assert_one_line_error(&["man", "read", "--dir", "/tmp"], &["cannot be used with"]);
    // Rendered by man(1) when it is installed.
    if Command::new("man").arg("--version").output().is_ok() {
        let out = Command::new("man")
            .args(["-l", "-P", "cat"])
            .arg(dir.path().join("sockscope-check.1"))
            .env("MANWIDTH", "80")
            .output()
            .expect("man");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("EXIT STATUS"), "{text}");
    }
}

#[test]
fn bash_completes_interfaces_for_live() {
    let script = format!(
        "source <({BIN} completions bash)\n\
         complete_words() {{ COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); \
         _sockscope sockscope \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"; }}\n\
         echo '--- live'; complete_words sockscope live ''\n\
         echo '--- live l'; complete_words sockscope live l\n\
         echo '--- read --k'; complete_words sockscope read --k\n"
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("bash");
    let text = String::from_utf8_lossy(&out.stdout);
    let section = |name: &str| -> Vec<String> {
        text.split("--- ")
            .find(|s| s.starts_with(&format!("{name}\n")))
            .map(|s| s.lines().skip(1).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let live = section("live");
    assert!(live.contains(&"lo".to_string()), "{text}");
    assert!(live.contains(&"any".to_string()), "{text}");
    assert!(live.contains(&"--write".to_string()), "{text}");
    assert_eq!(section("live l"), ["lo"], "{text}");
    assert_eq!(section("read --k"), ["--kind", "--keylog"], "{text}");
}

#[test]
fn help_says_what_each_command_prints_and_its_own_defaults() {
    let (check, _, _) = run(&["check", "--help"]);
    let line = |help: &str, opt: &str| -> String {
        let mut lines = help
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(opt));
        let mut s = lines.next().unwrap_or_default().to_string();
        for l in lines.take_while(|l| l.starts_with("          ")) {
            s.push_str(l);
        }
        s
    };
    assert!(
        line(&check, "-q, --quiet").contains("only the FAIL lines and the tally"),
        "{check}"
    );
    assert!(line(&check, "-p, --port").contains("every port"), "{check}");
    assert!(
        line(&check, "-V, --verbose").contains("each anomaly"),
        "{check}"
    );
    for hidden in ["--follow", "--ladder", "--hex", "--digest"] {
        assert!(!check.contains(hidden), "check --help shows {hidden}");
    }
    for s in [
        "--deny",
        "--allow",
        "--min-flows",
        "--fail-if-empty",
        "--format",
        "Exit status: 0 if every capture passed",
    ] {
        assert!(check.contains(s), "check --help lacks {s}");
    }
    let (read, _, _) = run(&["read", "--help"]);
    assert!(
        line(&read, "-p, --port").contains("[default: 80 and 443]"),
        "{read}"
    );
    assert!(read.contains("Exit status: 0 on success"), "{read}");
    let (live, _, _) = run(&["live", "--help"]);
    assert!(live.contains("Exit status: "), "{live}");
}
