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
        &["/nonexistent/x.pcap", "No such file"],
    );
    assert_one_line_error(
        &["read", "--bogus", "captures/ws-chat.pcap"],
        &["--bogus", "sockscope read --help"],
    );
    assert_one_line_error(&["read"], &["<FILE>"]);
    assert_one_line_error(
        &["read", "--kind", "nope", "captures/ws-chat.pcap"],
        &["possible values: http, websocket, sse, long-poll, other"],
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
    assert!(follow.starts_with("Follow flow 2: client 192.0.2.1:41262"));
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
fn progress_bar_only_when_stderr_is_a_terminal_and_output_is_not_scrolling_there() {
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
    for args in [
        format!("read --json {big}"),
        format!("read -q --no-progress {big}"),
        format!("read -q {big} | cat"),
    ] {
        let out = on_a_terminal(&args, false).expect("script ran before");
        assert!(!out.contains("reading ["), "no bar for `{args}`");
    }
}
