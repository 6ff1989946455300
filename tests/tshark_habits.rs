//! tshark's habits at home (issue 18 §3), each checked against tshark itself where tshark has
//! the same option: `-t` time formats, `-r FILE`, `-c N`, `-i IFACE`; and the summary line's
//! own conventions (a frame's size for every opcode, close codes by name, `--snap-preview`).

mod common;

use common::require_tshark;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// stdout, stderr and status of `sockscope ARGS`, in UTC.
fn sockscope(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(root())
        .env("TZ", "UTC")
        .env_remove("COLUMNS")
        .output()
        .expect("run sockscope");
    (
        String::from_utf8(out.stdout).expect("UTF-8"),
        String::from_utf8(out.stderr).expect("UTF-8"),
        out.status.code().unwrap_or(-1),
    )
}

fn ok(args: &[&str]) -> String {
    let (out, err, code) = sockscope(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

/// Packet number → the time column of each summary line.
fn our_times(capture: &str, format: &str) -> BTreeMap<u64, String> {
    let out = ok(&["read", "--color", "never", "-t", format, capture]);
    out.lines()
        .map_while(|l| {
            let mut words = l.split_whitespace();
            let n = words.next()?.parse().ok()?;
            // `ad` is a date and a time.
            let time = if format == "ad" {
                format!("{} {}", words.next()?, words.next()?)
            } else {
                words.next()?.to_string()
            };
            Some((n, time))
        })
        .collect()
}

/// Packet number → tshark's time column for `-t FORMAT`.
fn tshark_times(capture: &str, format: &str) -> BTreeMap<u64, String> {
    let out = Command::new("tshark")
        .args([
            "-r",
            capture,
            "-t",
            format,
            "-o",
            "gui.column.format:\"No.\",\"%m\",\"Time\",\"%t\"",
        ])
        .current_dir(root())
        .env("TZ", "UTC")
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .filter_map(|l| {
            let (n, time) = l.trim().split_once(char::is_whitespace)?;
            Some((n.parse().ok()?, time.trim().to_string()))
        })
        .collect()
}

#[test]
fn time_formats_are_tsharks() {
    require_tshark!();
    for capture in ["captures/ws-chat.pcap", "captures/http-keepalive.pcap"] {
        for format in ["a", "ad", "r", "d", "e"] {
            let ours = our_times(capture, format);
            let theirs = tshark_times(capture, format);
            assert!(ours.len() >= 5, "{capture} -t {format}: {ours:?}");
            for (n, time) in &ours {
                assert_eq!(
                    Some(time),
                    theirs.get(n),
                    "{capture} -t {format}, packet {n}"
                );
            }
        }
    }
    // `dd`: since the previous line shown, so the first line is 0 and the rest add up.
    let shown = our_times("captures/ws-chat.pcap", "dd");
    let relative = our_times("captures/ws-chat.pcap", "r");
    let (first, _) = shown.first_key_value().expect("lines");
    assert_eq!(shown[first], "0.000000");
    let sum: f64 = shown
        .values()
        .map(|t| t.parse::<f64>().expect("seconds"))
        .sum();
    let span = relative
        .values()
        .last()
        .expect("last")
        .parse::<f64>()
        .expect("seconds")
        - relative[first].parse::<f64>().expect("seconds");
    assert!((sum - span).abs() < 1e-5, "{sum} vs {span}");
}

#[test]
fn dash_r_names_the_file_and_dash_c_stops_where_tshark_does() {
    require_tshark!();
    let capture = "captures/ws-chat.pcap";
    assert_eq!(ok(&["read", "-r", capture]), ok(&["read", capture]));
    for n in [1u64, 12, 20] {
        let json = ok(&["read", "--json", "-c", &n.to_string(), "-r", capture]);
        let summary: Value =
            serde_json::from_str(json.lines().last().expect("summary")).expect("JSON");
        let tshark = Command::new("tshark")
            .args(["-r", capture, "-c", &n.to_string()])
            .current_dir(root())
            .output()
            .expect("run tshark");
        let theirs = String::from_utf8_lossy(&tshark.stdout).lines().count() as u64;
        assert_eq!(summary["packets"].as_u64(), Some(theirs), "-c {n}");
        assert_eq!(theirs, n);
        // No line about a packet after the n-th.
        let text = ok(&["read", "-c", &n.to_string(), capture]);
        for l in text.lines() {
            if let Some(p) = l
                .split_whitespace()
                .next()
                .and_then(|w| w.parse::<u64>().ok())
                && l.contains('→')
            {
                assert!(p <= n, "-c {n}: {l}");
            }
        }
    }
    // Over several files the count runs on.
    let json = ok(&["read", "--json", "-c", "40", capture, capture]);
    let summary: Value = serde_json::from_str(json.lines().last().expect("summary")).expect("JSON");
    assert_eq!(summary["packets"], 40);
    let (_, err, code) = sockscope(&["read", "-c", "0", capture]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn dash_i_names_the_interface() {
    let (_, err, code) = sockscope(&["live", "-i", "nosuch0"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("sockscope: nosuch0: no such interface"),
        "{err}"
    );
    let (_, err, code) = sockscope(&["live", "-i", "lo", "eth0"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn every_frame_line_says_its_size_and_close_codes_by_name() {
    let out = ok(&["read", "--color", "never", "captures/ws-chat.pcap"]);
    for l in out.lines().filter(|l| l.contains("WebSocket WebSocket")) {
        assert!(l.trim_end().ends_with(" B)"), "{l}");
    }
    assert!(
        out.contains("WebSocket Connection Close [FIN] [MASKED] 1000 Normal Closure \"bye\" (5 B)"),
        "{out}"
    );
    assert!(
        out.contains("WebSocket Binary [FIN] [MASKED] (16 B)"),
        "{out}"
    );
    assert!(
        out.contains("WebSocket Ping [FIN] [MASKED] (13 B)"),
        "{out}"
    );
    let fragmented = ok(&["read", "--color", "never", "captures/ws-fragmented.pcap"]);
    assert!(
        fragmented.contains("\"Hello, fragments!\" (6 B; message of 17 B in 4 frames)"),
        "{fragmented}"
    );
    assert!(
        fragmented.contains("(8 B; message of 24 B in 3 frames)"),
        "{fragmented}"
    );
}

#[test]
fn snap_preview_sets_the_summary_lines_too() {
    let message = "{\"event\": \"tick\", \"seq\": 1, \"note\": \"pushed by the server\"}";
    let default = ok(&["read", "--color", "never", "captures/ws-chat.pcap"]);
    assert!(!default.contains(message), "40 characters by default");
    let wide = ok(&[
        "read",
        "--color",
        "never",
        "--snap-preview",
        "60",
        "captures/ws-chat.pcap",
    ]);
    assert!(wide.contains(&format!("\"{message}\" (59 B)")), "{wide}");
    let narrow = ok(&[
        "read",
        "--color",
        "never",
        "--snap-preview",
        "3",
        "captures/ws-chat.pcap",
    ]);
    assert!(narrow.contains("\"hel…\" (5 B)"), "{narrow}");
}

#[test]
fn table_headings_never_wrap_in_piped_output() {
    for capture in [
        "captures/polling.pcap",
        "captures/long-poll.pcap",
        "captures/ws-chat.pcap",
    ] {
        let out = ok(&["read", "-q", "--color", "never", capture]);
        let heading = out
            .lines()
            .find(|l| l.starts_with("│ flow ┆"))
            .expect("flows table heading");
        let next = out
            .lines()
            .skip_while(|l| *l != heading)
            .nth(1)
            .expect("the line under the heading");
        assert!(
            next.starts_with('╞'),
            "{capture}: the heading wraps:\n{out}"
        );
        assert!(heading.contains("ping RTT"), "{capture}: {heading}");
    }
}

/// tshark's conversations: the endpoint pair (sorted) → the `tcp.stream` numbers it had.
fn tshark_streams(capture: &str) -> BTreeMap<(String, String), Vec<u64>> {
    let out = Command::new("tshark")
        .args([
            "-r",
            capture,
            "-Y",
            "tcp",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "ip.src",
            "-e",
            "ipv6.src",
            "-e",
            "tcp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "ipv6.dst",
            "-e",
            "tcp.dstport",
        ])
        .current_dir(root())
        .output()
        .expect("run tshark");
    let mut streams: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = l.split('\t').collect();
        let Some(stream) = f.first().and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        let end = |v4: &str, v6: &str, port: &str| {
            if v6.is_empty() {
                format!("{v4}:{port}")
            } else {
                format!("[{v6}]:{port}")
            }
        };
        let (a, b) = (end(f[1], f[2], f[3]), end(f[4], f[5], f[6]));
        let key = if a <= b { (a, b) } else { (b, a) };
        let list = streams.entry(key).or_default();
        if !list.contains(&stream) {
            list.push(stream);
        }
    }
    streams
}

#[test]
fn flows_carry_tsharks_tcp_stream_numbers() {
    require_tshark!();
    let mut checked = 0;
    for capture in [
        "captures/two-links.pcapng",
        "captures/http-keepalive.pcap",
        "captures/chromium-ws.pcap",
        "captures/ws-ipv6.pcap",
        "captures/ws-port8080.pcap",
        "captures/polling.pcap",
    ] {
        let streams = tshark_streams(capture);
        // On port 80 only, flows on other ports are skipped but still numbered.
        for args in [
            vec!["read", "--json", "--any-port", capture],
            vec!["read", "--json", capture],
        ] {
            for l in ok(&args).lines() {
                let r: Value = serde_json::from_str(l).expect("JSON");
                if r["type"] != "flow" {
                    continue;
                }
                let (c, s) = (
                    r["client"].as_str().expect("client"),
                    r["server"].as_str().expect("server"),
                );
                let key = if c <= s {
                    (c.to_string(), s.to_string())
                } else {
                    (s.to_string(), c.to_string())
                };
                let theirs = streams
                    .get(&key)
                    .unwrap_or_else(|| panic!("{capture}: {key:?} not in {streams:?}"));
                let ours = r["tcp_stream"].as_u64().expect("tcp_stream");
                assert!(
                    theirs.contains(&ours),
                    "{capture} {args:?}: flow {} is tcp.stream {theirs:?}, we say {ours}",
                    r["flow"]
                );
                checked += 1;
            }
        }
        let follow = ok(&["read", "--follow", "1", "--any-port", capture]);
        assert!(follow.starts_with("Follow flow 1 (tcp.stream "), "{follow}");
    }
    assert!(checked >= 10, "{checked}");
}

fn tshark_z(capture: &str, stat: &str) -> String {
    let out = Command::new("tshark")
        .args(["-r", capture, "-q", "-z", stat])
        .current_dir(root())
        .output()
        .expect("run tshark");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Numbers in the cells of our table rows (lines starting with `│`, headings left out).
fn our_rows(text: &str, after: &str) -> Vec<Vec<String>> {
    text.split(after)
        .nth(1)
        .unwrap_or_else(|| panic!("no `{after}` in {text}"))
        .lines()
        .skip_while(|l| !l.starts_with('╞'))
        .skip(1)
        .take_while(|l| l.starts_with('│'))
        .map(|l| {
            l.trim_matches('│')
                .split('┆')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn z_statistics_count_what_tshark_counts() {
    require_tshark!();
    for capture in [
        "captures/ws-chat.pcap",
        "captures/http-keepalive.pcap",
        "captures/two-links.pcapng",
    ] {
        // io,stat: frames and bytes per interval.
        let theirs: Vec<(u64, u64)> = tshark_z(capture, "io,stat,0.05")
            .lines()
            .filter(|l| l.contains("<>"))
            .map(|l| {
                let f: Vec<&str> = l.split('|').map(str::trim).collect();
                (f[2].parse().expect("frames"), f[3].parse().expect("bytes"))
            })
            .collect();
        let text = ok(&[
            "read",
            "-q",
            "--color",
            "never",
            "-z",
            "io,stat,0.05",
            capture,
        ]);
        let ours: Vec<(u64, u64)> = our_rows(&text, "IO statistics")
            .iter()
            .map(|r| (r[1].parse().expect("frames"), r[2].parse().expect("bytes")))
            .collect();
        assert_eq!(ours, theirs, "{capture} io,stat");
        // conv,tcp: A, B, frames and bytes each way, start, duration.
        let mut theirs: Vec<Vec<String>> = tshark_z(capture, "conv,tcp")
            .lines()
            .filter(|l| l.contains("<->"))
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                // A <-> B  framesBA bytesBA "bytes" framesAB bytesAB "bytes" total… start duration
                vec![
                    w[0].to_string(),
                    w[2].to_string(),
                    w[6].to_string(),
                    w[7].to_string(),
                    w[3].to_string(),
                    w[4].to_string(),
                    format!("{:.6}", w[12].parse::<f64>().expect("start")),
                    w[13].to_string(),
                ]
            })
            .collect();
        let text = ok(&[
            "read",
            "-q",
            "--color",
            "never",
            "--any-port",
            "-z",
            "conv,tcp",
            capture,
        ]);
        let mut ours: Vec<Vec<String>> = our_rows(&text, "TCP conversations")
            .into_iter()
            .map(|r| {
                let n = r.len();
                [&r[..6], &r[n - 2..]].concat()
            })
            .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{capture} conv,tcp");
        assert!(!ours.is_empty());
    }
    let (_, err, code) = sockscope(&["read", "-z", "http,srv", "captures/ws-chat.pcap"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("io,stat,INTERVAL, conv,tcp or http,tree"),
        "{err}"
    );
}

#[test]
fn http_tree_counts_what_tshark_counts() {
    require_tshark!();
    for capture in [
        "captures/http-keepalive.pcap",
        "captures/ws-chat.pcap",
        "captures/polling.pcap",
    ] {
        // tshark: "  GET   6", "   200 OK   7", "Total HTTP Packets   16": item and count.
        let theirs: BTreeMap<String, u64> = tshark_z(capture, "http,tree")
            .lines()
            .filter_map(|l| {
                let l = l.trim_start();
                let cut = l.find("  ")?;
                let item = l[..cut].trim().to_string();
                let count = l[cut..].split_whitespace().next()?.parse().ok()?;
                Some((item, count))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        let text = ok(&["read", "-q", "--color", "never", "-z", "http,tree", capture]);
        let ours: BTreeMap<String, u64> = our_rows(&text, "HTTP messages")
            .into_iter()
            .map(|r| {
                (
                    r[0].trim_start_matches(['·', ' ']).to_string(),
                    r[1].parse().expect("count"),
                )
            })
            .collect();
        for (item, n) in &ours {
            let theirs_item = match item.as_str() {
                "requests" => "HTTP Request Packets",
                "responses" => "HTTP Response Packets",
                other => other,
            };
            assert_eq!(
                theirs.get(theirs_item),
                Some(n),
                "{capture}: {item}\n{theirs:?}"
            );
        }
        let total = ours["requests"] + ours["responses"];
        assert_eq!(theirs.get("Total HTTP Packets"), Some(&total), "{capture}");
    }
}

#[test]
fn z_and_t_are_refused_where_they_would_do_nothing() {
    for args in [
        &["check", "-z", "conv,tcp", "captures/ws-chat.pcap"][..],
        &["check", "-t", "e", "captures/ws-chat.pcap"],
        &["read", "--json", "-z", "conv,tcp", "captures/ws-chat.pcap"],
        &["read", "--json", "-t", "a", "captures/ws-chat.pcap"],
    ] {
        let (out, err, code) = sockscope(args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}
