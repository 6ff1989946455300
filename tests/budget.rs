//! The memory budget against the triggers of the hostile-input issue: each test writes a
//! hostile capture (tests/common/hostile.rs) into a temporary directory, runs the binary on it
//! as a child process, and checks its peak resident memory against the 64 MB the default
//! `--memory` promises — and that every loss the budget forced is reported by its anomaly code.
//!
//! The peak is GNU time's (`/usr/bin/time -f %M`: `ru_maxrss` of the child it forks, in KiB).
//! Not this process's own `wait4`: a child spawned from here (vfork, or fork) starts as a copy
//! of this process, and the kernel carries that copy's peak into the child's `ru_maxrss` when it
//! execs — once another test panicked and its backtrace was symbolised, this process holds
//! 40 MB, and every child measured after that would seem to hold as much. `time` forks from a
//! process of about 2 MB.
//!
//! Sizes are about the smallest that still exceed 64 MB without the budget: each test names the
//! peak the same input reached before it (release build, MiB; `benches/run.sh --hostile-only`
//! has the full sizes). The binary under test is the debug build, whose own code takes
//! about 4 MB more.

mod common;

use common::BIN;
use common::hostile::{self, Shape};
use std::path::Path;
use std::process::{Command, Stdio};

/// The default `--memory`, in KiB (`ru_maxrss` is in KiB on Linux).
const LIMIT_KIB: i64 = 64 << 10;

/// GNU time, which measures the peak of a child forked from its own small process.
const TIME: &str = "/usr/bin/time";

/// Keeps 64 KiB of every message for display, as `-x` does, without printing it: `-x` would
/// print every message of thousands of flows (hundreds of MB), and `-q` alone reads no records
/// and so keeps nothing for display. A filter that every record of a flow matches
/// (`-Y flow.id`) makes `-q` read the records, and keep their bytes, as `-x` does; its tables
/// still list every flow and every anomaly.
const AS_MUCH_AS_HEX: [&str; 5] = [
    "-q",
    "-Y",
    "flow.id",
    hostile::AS_MUCH_AS_HEX[0],
    hostile::AS_MUCH_AS_HEX[1],
];

/// What one measured run did.
struct Measured {
    stdout: String,
    /// Peak resident set of the child, KiB.
    max_rss_kib: i64,
}

/// Runs `sockscope read ARGS FILE` under GNU time, or says why it cannot (see the module doc).
fn measure(file: &Path, args: &[&str]) -> Option<Measured> {
    if !Path::new(TIME).exists() {
        common::skip(format!(
            "GNU time ({TIME}) is not installed: the peak of a child cannot be measured apart \
             from this process's (CI installs it with .ci/run)"
        ));
        return None;
    }
    let dir = file.parent().expect("capture in a directory");
    let out_path = dir.join("stdout.txt");
    let err_path = dir.join("stderr.txt");
    let peak_path = dir.join("peak.txt");
    let out = std::fs::File::create(&out_path).expect("stdout file");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let status = Command::new(TIME)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&peak_path)
        .arg(BIN)
        .arg("read")
        .args(["--color", "never"])
        .args(args)
        .arg(file)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .expect("run sockscope under time");
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.success(),
        "sockscope read {args:?} failed ({status}): {stderr}"
    );
    let peak = std::fs::read_to_string(&peak_path).expect("time's output");
    let max_rss_kib = peak
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("time's output is not a peak in KiB: {peak:?}"));
    Some(Measured {
        stdout: std::fs::read_to_string(&out_path).expect("stdout"),
        max_rss_kib,
    })
}

/// Writes `flows` flows of `shape` to a fresh temporary directory.
fn hostile_capture(
    shape: Shape,
    flows: usize,
    size: usize,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("{}.pcap", shape.name()));
    let file = std::fs::File::create(&path).expect("create capture");
    let mut file = std::io::BufWriter::new(file);
    hostile::write(shape, flows, size, &mut file).expect("write capture");
    std::io::Write::flush(&mut file).expect("flush capture");
    (dir, path)
}

/// The analysis in one thread, in two whose workers share the one budget (`--threads`), and
/// in more than the cores: every trigger must stay within the limit either way, whatever the
/// number of workers (what they find waits for the thread that prints in a bounded number of
/// bounded chunks, all workers together).
const THREADS: [&str; 3] = ["1", "2", "7"];

/// Runs the binary on the capture, with every count of [`THREADS`], and checks the peak and the
/// codes that must say what gave way (the anomaly table of the text report lists every code
/// raised).
fn within_budget(file: &Path, args: &[&str], codes: &[&str]) {
    for threads in THREADS {
        let args: Vec<&str> = args.iter().copied().chain(["--threads", threads]).collect();
        let Some(run) = measure(file, &args) else {
            return;
        };
        assert!(
            run.max_rss_kib <= LIMIT_KIB,
            "{args:?}: peak RSS {} KiB is above {LIMIT_KIB} KiB",
            run.max_rss_kib
        );
        eprintln!("{args:?}: peak RSS {} KiB", run.max_rss_kib);
        for code in codes {
            assert!(
                run.stdout.contains(code),
                "{args:?}: {code} not reported; the report ends with:\n{}",
                tail(&run.stdout)
            );
        }
    }
}

fn tail(s: &str) -> &str {
    let start = s.len().saturating_sub(3000);
    s.get(start..).unwrap_or(s)
}

// Before the budget: 89 MiB. Heads are dropped, largest first, each reported.
#[test]
fn incomplete_request_heads() {
    let (_dir, file) = hostile_capture(Shape::Heads, 1200, hostile::PER_FLOW);
    within_budget(&file, &["-q"], &["http.budget_head"]);
}

// Before: 88 MiB.
#[test]
fn incomplete_request_and_response_heads() {
    let (_dir, file) = hostile_capture(Shape::HeadsBoth, 600, hostile::PER_FLOW);
    within_budget(&file, &["-q"], &["http.budget_head"]);
}

// Before: 91 MiB. The bytes held for the 101 that never comes are dropped.
#[test]
fn upgrade_requests_never_answered() {
    let (_dir, file) = hostile_capture(Shape::UpgradeHold, 1200, hostile::PER_FLOW);
    within_budget(&file, &["-q"], &["http.budget_hold"]);
}

// Before: 70 MiB.
#[test]
fn pipelined_requests_never_answered() {
    let (_dir, file) = hostile_capture(Shape::Pipelined, 1800, hostile::PIPELINED);
    within_budget(&file, &["-q"], &["http.budget_pending"]);
}

// Before: 111 MiB with -x, 89 MiB with --follow 1. With -x (here: as much as -x keeps, see
// `AS_MUCH_AS_HEX`) every message keeps its bytes for display and the largest give them up;
// with --follow only flow 1 keeps any, so nothing has to give way.
#[test]
fn unfinished_fragmented_messages_with_hex_or_follow() {
    let (_dir, file) = hostile_capture(Shape::Fragmented, 600, hostile::PER_FLOW);
    within_budget(
        &file,
        &AS_MUCH_AS_HEX,
        &["ws.budget_display", "ws.truncated"],
    );
    for threads in THREADS {
        let Some(run) = measure(&file, &["--follow", "1", "--threads", threads]) else {
            return;
        };
        assert!(
            run.max_rss_kib <= LIMIT_KIB,
            "--follow 1 --threads {threads}: {} KiB",
            run.max_rss_kib
        );
        assert!(
            run.stdout.starts_with("Follow flow 1"),
            "{}",
            tail(&run.stdout)
        );
        assert!(!run.stdout.contains("budget"), "{}", tail(&run.stdout));
    }
}

// Before: 126 MiB (the same input with --memory 4096, debug build). MQTT-over-WebSocket flows each 60 KB into a PUBLISH per side that never ends: the decoders'
// packet buffers give way, largest first, each reported.
#[test]
fn mqtt_packets_that_never_end() {
    let (_dir, file) = hostile_capture(Shape::MqttPartial, 800, hostile::PER_FLOW);
    within_budget(&file, &["-q"], &["sub.budget"]);
}

// Before: 52 MiB, but 834 of the 1 200 flows not analyzed at all (`tcp.budget_flows`): the
// record layer's buffers could not be given up, so they counted as the flows' fixed state.
// TLS connections each 60 KB into a Certificate message that never ends: the handshake
// messages being reassembled give way, largest first, each reported, and every flow is read.
#[test]
fn tls_handshake_messages_that_never_end() {
    let (_dir, file) = hostile_capture(Shape::TlsHandshake, 1200, hostile::PER_FLOW);
    let Some(run) = measure(&file, &["-q"]) else {
        return;
    };
    assert!(
        run.max_rss_kib <= LIMIT_KIB,
        "peak RSS {} KiB",
        run.max_rss_kib
    );
    assert!(run.stdout.contains("tls.budget"), "{}", tail(&run.stdout));
    for code in ["tcp.budget_flows", "tcp.budget_evict"] {
        assert!(!run.stdout.contains(code), "{code}: {}", tail(&run.stdout));
    }
}

// Before: 67 MiB. Inflaters (zlib's state and the pages of its window their output reached,
// 23-51 KiB, and an output window of up to 32 KiB each) and the
// inflated bytes kept for -x (as much as -x keeps: `AS_MUCH_AS_HEX`) give way.
#[test]
fn deflate_flows_with_hex() {
    let (_dir, file) = hostile_capture(Shape::Deflate, 8000, 50_000);
    within_budget(
        &file,
        &AS_MUCH_AS_HEX,
        &["ws.budget_inflater", "ws.budget_display"],
    );
}

// Before: 68 MiB. Out-of-order bytes are delivered early, holes given up.
#[test]
fn deflate_flows_with_out_of_order_data() {
    let (_dir, file) = hostile_capture(Shape::DeflateOoo, 8000, 8000);
    within_budget(&file, &["-q"], &["tcp.budget_ooo", "ws.budget_inflater"]);
}

// Before: 61 MiB with one thread, 65 MiB with two, 73 MiB with seven (the records of many
// flows waited for the thread that prints in chunks of at most 128 KiB, but every worker kept
// up to 4 MiB of them for reuse, and each batch spanned up to 3 MB of the mapped file).
#[test]
fn deflate_flows_with_out_of_order_data_and_hex() {
    let (_dir, file) = hostile_capture(Shape::DeflateOoo, 8000, 8000);
    within_budget(
        &file,
        &AS_MUCH_AS_HEX,
        &["tcp.budget_ooo", "ws.budget_inflater"],
    );
}

// Before: 9 MiB with one thread, 233 MiB with two, 426 MiB with seven: a packet's records
// (here 1 777 messages of 16 KiB kept for display, from one 64 000-byte segment) waited
// whole for the thread that prints, in as many packets as the queues hold. Now a packet's
// records are handed on in chunks too.
#[test]
fn packets_of_thousands_of_compressed_messages_with_hex() {
    let (_dir, file) = hostile_capture(Shape::DeflateBurst, 16, hostile::BURST_MESSAGE);
    within_budget(&file, &AS_MUCH_AS_HEX, &[]);
}

// Before: 129 MiB (the 60 000 flows of 60 KB heads: 3.7 GiB). With --max-flows raised,
// the budget bounds the flows: heads are dropped, then new flows are not tracked.
#[test]
fn many_flows_of_unfinished_heads_with_a_raised_flow_cap() {
    let (_dir, file) = hostile_capture(Shape::Heads, 40_000, 1000);
    within_budget(
        &file,
        &["-q", "--max-flows", "65536"],
        &["http.budget_head", "tcp.budget_flows"],
    );
}

/// `--memory` moves the bound: the same capture with a smaller budget peaks lower, and with a
/// larger one holds more before anything gives way.
#[test]
fn memory_option_sets_the_budget() {
    let (_dir, file) = hostile_capture(Shape::Heads, 1200, hostile::PER_FLOW);
    let Some(small) = measure(&file, &["-q", "--memory", "40"]) else {
        return;
    };
    assert!(
        small.max_rss_kib <= 40 << 10,
        "--memory 40: {} KiB",
        small.max_rss_kib
    );
    assert!(small.stdout.contains("http.budget_head"));
    let Some(large) = measure(&file, &["-q", "--memory", "200"]) else {
        return;
    };
    assert!(!large.stdout.contains("budget"), "{}", tail(&large.stdout));
}

#[test]
fn memory_option_refuses_what_leaves_no_budget() {
    for (value, says) in [("28", "at least 29 MB"), ("lots", "not a whole number")] {
        let run = common::sockscope(&["read", "--memory", value, "captures/ws-chat.pcap"]);
        assert_eq!(run.code, 2, "--memory {value}");
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains("--memory"), "{}", run.stderr);
        assert!(run.stderr.contains(says), "{}", run.stderr);
    }
}
