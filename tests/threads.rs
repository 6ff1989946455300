//! `--threads N` prints exactly what one thread prints: every bundled capture in every view
//! with 1, 2 and 7 threads, compared byte for byte (stdout, stderr and the exit status), and
//! synthetic captures whose flows end together in different threads (lingers over at the same
//! packet, idle sweeps, end of input, a reused tuple), where the order of what is printed
//! depends on merging the threads' findings the way one flow table orders them. Under memory
//! pressure the output with threads differs from one thread's (each worker has a share of the
//! budget) but not from run to run.

mod common;

use common::{
    ACK, C2S, LINKTYPE_ETHERNET, PSH, PcapWriter, S2C, SYN, TcpConn, http_session,
    sockscope_with_stdin,
};

const VIEWS: &[&[&str]] = &[
    &[],
    &["-q"],
    &["-V"],
    &["-x"],
    &["--json"],
    &["--json", "--any-port", "--digest"],
    &["-V", "--any-port"],
    &["--follow", "1"],
    &["--ladder", "2"],
    &["--json", "--kind", "websocket"],
    // Display filters and fields: flow ids, `tcp.stream` numbers and sub-protocol records are
    // renumbered by the thread that prints, so a filter on them sees the run's numbers.
    &[
        "--json",
        "-Y",
        "ws.opcode == text || http.method == \"GET\" || tcp.stream == 1 || flow.id == 2",
    ],
    &[
        "-Y",
        "ws || http.response || record.type == \"latency\"",
        "--filter-flows",
    ],
    &[
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "tcp.stream",
        "-e",
        "flow.id",
        "-e",
        "record.type",
        "-e",
        "dir",
        "-e",
        "flow.kind",
        "-e",
        "ws.opcode",
    ],
    &["-V", "-O", "tcp,http,ws", "-Y", "ws || http"],
    &["-q", "-z", "conv,tcp", "-z", "io,stat,1", "-z", "http,tree"],
    &["--json", "--any-port", "--decode-as", "json"],
    // Rules and views that name a flow by its number are analyzed in one thread.
    &[
        "--json",
        "--decode-as",
        "flow:1=json",
        "--decode-as",
        "port:80=stomp",
    ],
];

/// `read` of `input` (a path, or `-` with `stdin`) with `args` and `--threads threads`.
fn read(input: &str, stdin: &[u8], args: &[&str], threads: usize) -> (i32, String, String) {
    let threads = threads.to_string();
    let mut all = vec!["read", "--color", "never", "--threads", &threads];
    all.extend_from_slice(args);
    all.push(input);
    let run = sockscope_with_stdin(&all, stdin);
    (run.code, run.stdout, run.stderr)
}

fn assert_same_with_threads(input: &str, stdin: &[u8], args: &[&str], counts: &[usize]) {
    let one = read(input, stdin, args, 1);
    for &n in counts {
        let many = read(input, stdin, args, n);
        assert!(
            one == many,
            "{input} {args:?}: --threads {n} differs from --threads 1\n--- 1:\n{}\n{}\n--- {n}:\n{}\n{}",
            one.1,
            one.2,
            many.1,
            many.2
        );
    }
}

#[test]
fn every_bundled_capture_prints_the_same_in_every_view_with_2_and_7_threads() {
    let files = common::bundled_captures();
    assert!(files.len() > 30, "captures found: {}", files.len());
    for file in &files {
        let name = file.to_str().expect("utf-8 path");
        for view in VIEWS {
            assert_same_with_threads(name, b"", view, &[2, 7]);
        }
    }
}

#[test]
fn several_files_are_one_capture_with_threads_too() {
    let a = common::capture("ws-chat.pcap");
    let b = common::capture("http-keepalive.pcap");
    let c = common::capture("sse.pcap");
    let args: Vec<String> = [&a, &b, &c]
        .iter()
        .map(|p| p.to_str().expect("utf-8").to_string())
        .collect();
    for view in [&["--json"][..], &["-q"][..], &[][..]] {
        let run = |n: usize| {
            let threads = n.to_string();
            let mut all = vec!["read", "--color", "never", "--threads", &threads];
            all.extend_from_slice(view);
            all.extend(args.iter().map(String::as_str));
            let r = common::sockscope(&all);
            (r.code, r.stdout, r.stderr)
        };
        let one = run(1);
        assert_eq!(one.0, 0, "{}", one.2);
        for n in [2, 5] {
            assert!(one == run(n), "{view:?} with {n} threads differs");
        }
    }
}

/// Forty HTTP flows opened at one instant; the last twenty closed (both FINs) in reverse order
/// at one later instant, so that their lingers end together, at the same packet, in the order
/// they were closed (not their id order); the others idle; then one packet after the linger,
/// a reused tuple, and flows left open at the end.
fn flows_ending_together() -> Vec<u8> {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET).with_step(0);
    let mut conns: Vec<TcpConn> = (0..40u8)
        .map(|k| {
            TcpConn::new(
                ([10, 1, k / 8, k], 40_000 + u16::from(k)),
                ([192, 0, 2, 1], 80),
            )
        })
        .collect();
    // Connections on ports not analyzed, between the others: they take `tcp.stream` numbers.
    let mut others: Vec<TcpConn> = (0..6u8)
        .map(|k| {
            TcpConn::new(
                ([10, 3, 0, k], 42_000),
                ([192, 0, 2, 9], 5_000 + u16::from(k)),
            )
        })
        .collect();
    for (k, c) in conns.iter_mut().enumerate() {
        if let Some(o) = others.get_mut(k / 7).filter(|_| k % 7 == 3) {
            o.handshake(&mut w);
        }
        c.handshake(&mut w);
        c.send(&mut w, C2S, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        c.send(
            &mut w,
            S2C,
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        );
    }
    w.wait(500_000);
    for c in conns.iter_mut().skip(20).rev() {
        c.fin(&mut w);
    }
    // Past the 5 s linger, and past a 3 s idle timeout for the open ones.
    w.wait(6_000_000);
    let first = &mut conns[0];
    first.send(&mut w, C2S, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    w.wait(1_000);
    // A closed flow's tuple taken by a new connection.
    let mut again = TcpConn::new(conns[25].client, conns[25].server);
    again.seq = [7_000, 90_000];
    again.handshake(&mut w);
    again.send(&mut w, C2S, b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    let syn = conns[3].raw(C2S, 123, SYN, b"");
    w.packet(&syn);
    let ack = conns[4].raw(S2C, conns[4].seq[S2C], ACK, b"");
    w.packet(&ack);
    w.take_bytes()
}

#[test]
fn flows_ending_together_in_different_threads_are_reported_in_one_tables_order() {
    let pcap = flows_ending_together();
    for extra in [&[][..], &["--idle-timeout", "3"][..]] {
        for view in VIEWS {
            let args: Vec<&str> = view.iter().chain(extra).copied().collect();
            assert_same_with_threads("-", &pcap, &args, &[2, 3, 7]);
        }
    }
    // The lingers ended at the packet after the wait, in the order the flows were closed.
    let run = common::sockscope_with_stdin(&["read", "--json", "--threads", "7", "-"], &pcap);
    let report = run.report();
    let closed: Vec<u64> = report
        .of_type("flow")
        .filter(|f| common::str_of(f, "closed") == Some("fin"))
        .filter_map(|f| common::u64_of(f, "id"))
        .collect();
    assert_eq!(closed.len(), 20, "{closed:?}");
    assert_eq!(
        closed[..20],
        (21..=40).rev().collect::<Vec<u64>>()[..],
        "lingers ending together end in closing order"
    );
}

#[test]
fn one_flow_alone_and_no_flow_at_all_print_the_same() {
    let pcap = http_session(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    );
    for view in VIEWS {
        assert_same_with_threads("-", &pcap, view, &[2, 7]);
    }
    let empty = PcapWriter::new(LINKTYPE_ETHERNET).take_bytes();
    for view in VIEWS {
        assert_same_with_threads("-", &empty, view, &[2, 7]);
    }
}

/// Flows whose requests arrive as two IP fragments each (reassembled before a thread is
/// chosen), interleaved, and one datagram whose second fragment never comes.
fn fragmented_requests() -> Vec<u8> {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    let mut conns: Vec<TcpConn> = (0..12u8)
        .map(|k| TcpConn::new(([10, 2, 0, k], 41_000), ([192, 0, 2, 7], 80)))
        .collect();
    for c in &mut conns {
        c.handshake(&mut w);
    }
    let request = b"GET /fragmented HTTP/1.1\r\nHost: example\r\n\r\n";
    let mut seconds = Vec::new();
    for (k, c) in conns.iter_mut().enumerate() {
        let l4 = common::tcp_segment(
            c.client.1,
            c.server.1,
            c.seq[C2S],
            c.seq[S2C],
            ACK | common::PSH,
            request,
        );
        c.seq[C2S] = c.seq[C2S].wrapping_add(request.len() as u32);
        let id = 100 + k as u16;
        let first = common::eth_ipv4(c.client.0, c.server.0, 6, 0x2000, id, &l4[..32]);
        w.packet(&first);
        seconds.push(common::eth_ipv4(
            c.client.0,
            c.server.0,
            6,
            32 / 8,
            id,
            &l4[32..],
        ));
    }
    // The last datagram's second fragment is lost.
    seconds.pop();
    for p in seconds {
        w.packet(&p);
    }
    for c in conns.iter_mut().take(11) {
        c.send(&mut w, S2C, b"HTTP/1.1 204 No Content\r\n\r\n");
    }
    w.take_bytes()
}

#[test]
fn ip_fragments_are_reassembled_before_the_flows_are_split() {
    let pcap = fragmented_requests();
    for view in VIEWS {
        assert_same_with_threads("-", &pcap, view, &[2, 7]);
    }
    let report =
        common::sockscope_with_stdin(&["read", "--json", "--threads", "7", "-"], &pcap).report();
    let requests = report
        .of_type("http")
        .filter(|r| common::str_of(r, "kind") == Some("request"))
        .count();
    assert_eq!(requests, 11, "every reassembled request is analyzed");
    assert!(
        report.codes().contains("ip.fragment"),
        "{:?}",
        report.codes()
    );
}

#[test]
fn check_analyzes_captures_side_by_side_and_prints_them_in_order() {
    let dir = common::captures();
    let dir = dir.to_str().expect("utf-8 path");
    let broken = std::env::temp_dir().join(format!("threads-broken-{}.pcap", std::process::id()));
    std::fs::write(&broken, b"not a capture at all").expect("write");
    let broken = broken.to_str().expect("utf-8 path").to_string();
    for format in ["text", "json", "junit", "sarif", "github"] {
        let run = |n: usize| {
            let threads = n.to_string();
            let r = common::sockscope(&[
                "check",
                "-r",
                "--format",
                format,
                "--threads",
                &threads,
                dir,
                &broken,
            ]);
            (r.code, r.stdout, r.stderr)
        };
        let one = run(1);
        assert_eq!(one.0, 2, "an unreadable capture: status 2\n{}", one.2);
        for n in [2, 7] {
            assert!(
                one == run(n),
                "check --format {format} with {n} threads differs"
            );
        }
    }
    let _ = std::fs::remove_file(&broken);
}

#[test]
fn a_capture_cut_short_reports_what_was_read_with_threads_too() {
    let whole = std::fs::read(common::capture("ws-chat.pcap")).expect("capture");
    for cut in [whole.len() / 3, whole.len() / 2 + 7, whole.len() - 5] {
        let cut = &whole[..cut];
        for view in [&["--json"][..], &["-q"][..], &[][..]] {
            assert_same_with_threads("-", cut, view, &[2, 7]);
        }
        let run = common::sockscope_with_stdin(&["read", "-q", "--threads", "2", "-"], cut);
        assert_eq!(
            run.code, 2,
            "a malformed input ends with status 2: {}",
            run.stderr
        );
        assert!(
            run.stdout.contains("Flows"),
            "what was read is reported: {}",
            run.stdout
        );
    }
}

#[test]
fn decrypted_tls_prints_the_same_with_threads() {
    let tls = common::capture("tls");
    let mut pairs = Vec::new();
    for e in std::fs::read_dir(&tls).expect("captures/tls") {
        let p = e.expect("dir entry").path();
        if p.extension().is_some_and(|x| x == "keys") {
            for ext in ["pcap", "pcapng"] {
                let capture = p.with_extension(ext);
                if capture.exists() {
                    pairs.push((capture, p.clone()));
                }
            }
        }
    }
    assert!(!pairs.is_empty(), "no TLS capture with its key log");
    for (capture, keys) in &pairs {
        let keys = keys.to_str().expect("utf-8 path");
        for view in VIEWS {
            let args: Vec<&str> = view.iter().copied().chain(["--keylog", keys]).collect();
            assert_same_with_threads(capture.to_str().expect("utf-8"), b"", &args, &[2, 7]);
        }
    }
}

#[test]
fn written_packets_and_a_packet_count_are_the_same_with_threads() {
    let out = |tag: &str| {
        std::env::temp_dir().join(format!("threads-w-{}-{tag}.pcap", std::process::id()))
    };
    for capture in ["ws-chat.pcap", "http-keepalive.pcap", "sub/socketio.pcap"] {
        let capture = common::capture(capture);
        let capture = capture.to_str().expect("utf-8 path");
        for select in [
            &["-Y", "ws || http.method == \"GET\""][..],
            &["--flow", "1"][..],
        ] {
            let written: Vec<(i32, Vec<u8>)> = [1, 2, 7]
                .iter()
                .map(|n| {
                    let path = out(&n.to_string());
                    let threads = n.to_string();
                    let mut args = vec!["read", "--threads", &threads, "-w"];
                    let p = path.to_str().expect("utf-8 path").to_string();
                    args.push(&p);
                    args.extend_from_slice(select);
                    args.push(capture);
                    let run = common::sockscope(&args);
                    let bytes = std::fs::read(&path).unwrap_or_default();
                    let _ = std::fs::remove_file(&path);
                    (run.code, bytes)
                })
                .collect();
            assert!(
                written[0].1.len() > 24,
                "{capture} {select:?}: nothing written"
            );
            for w in &written[1..] {
                assert!(
                    *w == written[0],
                    "{capture} {select:?}: -w differs with threads"
                );
            }
        }
        for count in ["1", "17", "40"] {
            assert_same_with_threads(capture, b"", &["-c", count, "--json"], &[2, 7]);
        }
    }
}

/// Thousands of flows that end at one packet (their lingers over, an idle sweep) and at the
/// end of input: what the workers find then is handed on in many chunks, and merged back
/// into one table's order across chunk boundaries.
fn many_flows_ending_at_once() -> Vec<u8> {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET).with_step(0);
    let mut conns: Vec<TcpConn> = (0..3000u16)
        .map(|k| {
            let [hi, lo] = k.to_be_bytes();
            TcpConn::new(([10, 4, hi, lo], 30_000 + k % 1000), ([192, 0, 2, 2], 80))
        })
        .collect();
    for c in &mut conns {
        c.handshake(&mut w);
        c.send(&mut w, C2S, b"GET /many HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    w.wait(100_000);
    for c in conns.iter_mut().take(1000).rev() {
        c.send(
            &mut w,
            S2C,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        );
        c.fin(&mut w);
    }
    // Past the linger and the idle timeout: flows 1001-2000 idle, 2001-3000 touched again.
    w.wait(4_000_000);
    for c in conns.iter_mut().skip(2000) {
        c.send(&mut w, C2S, b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    w.wait(6_000_000);
    let last = &mut conns[2999];
    last.send(&mut w, S2C, b"HTTP/1.1 204 No Content\r\n\r\n");
    w.take_bytes()
}

#[test]
fn findings_handed_on_in_many_chunks_merge_back_in_order() {
    let pcap = many_flows_ending_at_once();
    for view in [
        &["--json", "--idle-timeout", "8"][..],
        &["--json"][..],
        &["-q", "--idle-timeout", "8"][..],
    ] {
        assert_same_with_threads("-", &pcap, view, &[2, 3]);
    }
}

/// The `ws` benchmark shape (examples/bigcap.rs), `mib` MiB of it: the WebSocket captures
/// `ws-chat`, `ws-deflate` and `ws-fragmented` replayed over and over, each copy's addresses
/// renumbered, 256 copies at a time interleaved packet by packet, 3 µs apart. Thousands of
/// short flows come and go, so the flow table's maps see many removals.
fn ws_shape(mib: usize) -> Vec<u8> {
    use sockscope::source::{self, Next};
    let templates: Vec<Vec<Vec<u8>>> = ["ws-chat.pcap", "ws-deflate.pcap", "ws-fragmented.pcap"]
        .iter()
        .map(|name| {
            let path = common::capture(name);
            let mut src = source::open(path.to_str().expect("path"), 1).expect("capture opens");
            let mut packets = Vec::new();
            while let Next::Frame(frame) = src.next().expect("capture reads") {
                packets.push(frame.data.to_vec());
            }
            packets
        })
        .collect();
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET).with_step(3);
    // Slots of flows being replayed: (template, next packet, copy number).
    let mut slots: Vec<(usize, usize, u32)> = Vec::new();
    let mut copy = 0u32;
    while w.bytes().len() < mib << 20 {
        while slots.len() < 256 {
            slots.push((copy as usize % templates.len(), 0, copy));
            copy += 1;
        }
        let mut i = 0;
        while i < slots.len() {
            let (t, next, c) = slots[i];
            let Some(data) = templates[t].get(next) else {
                slots.swap_remove(i);
                continue;
            };
            let mut data = data.clone();
            // IPv4 behind Ethernet: both addresses' first three bytes become the copy number.
            let [_, a, b, c] = c.to_be_bytes();
            for at in [14 + 12, 14 + 16] {
                data[at..at + 3].copy_from_slice(&[10 + (a & 0x3f), b, c]);
            }
            w.packet(&data);
            slots[i].1 += 1;
            i += 1;
        }
    }
    w.take_bytes()
}

/// Under memory pressure the flows that give way are chosen by what each holds and what the
/// table's own maps are charged. The maps' capacity depends on where their keys hash, and
/// their hasher's seed is random per map, so a charge read from it made other flows give way
/// in each run (one thread or several). Runs of one capture under a small budget must print the
/// same, with one thread and with two (whose workers each have a share of the budget, so what
/// gives way differs from one thread's, by design, but not from run to run).
#[test]
fn the_same_capture_under_memory_pressure_prints_the_same_every_run() {
    let pcap = ws_shape(12);
    for view in [&["-q"][..], &["--json"][..]] {
        for threads in [1, 2] {
            let args: Vec<&str> = view.iter().copied().chain(["--memory", "31"]).collect();
            let first = read("-", &pcap, &args, threads);
            assert!(
                first.1.contains("ws.budget_inflater"),
                "{args:?} --threads {threads}: the budget is not short:\n{}",
                first
                    .1
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            for run in 2..=4 {
                let again = read("-", &pcap, &args, threads);
                let line = first
                    .1
                    .lines()
                    .zip(again.1.lines())
                    .position(|(a, b)| a != b);
                assert!(
                    again == first,
                    "{args:?} --threads {threads}: run {run} differs from run 1 (exit {} and {}, \
                     {} and {} lines, first different line: {line:?})\n--- 1:\n{}\n--- {run}:\n{}",
                    first.0,
                    again.0,
                    first.1.lines().count(),
                    again.1.lines().count(),
                    line.and_then(|l| first.1.lines().nth(l))
                        .unwrap_or(&first.2),
                    line.and_then(|l| again.1.lines().nth(l))
                        .unwrap_or(&again.2),
                );
            }
        }
    }
}

/// A busy link of short connections: closed flows wait out their 5 s linger, many more of them
/// than are open. They linger compact and outside `--max-flows` (which caps the connections
/// tracked: 256 at a time here), so a small cap changes nothing; a small memory budget
/// finalises them early to make room. The summary counts those (JSON) and says so (text); a
/// run that finalised none, with one thread and with two, prints the same.
#[test]
fn closed_flows_finalised_early_are_counted_and_said() {
    let pcap = ws_shape(4);
    let run = |args: &[&str]| {
        let (code, out, err) = read("-", &pcap, args, 1);
        assert_eq!(code, 0, "{args:?}: {err}");
        let summary: serde_json::Value =
            serde_json::from_str(out.lines().last().unwrap_or_default()).expect("summary");
        assert_eq!(summary["refused_flows"], 0, "{args:?}: {summary}");
        let early = summary["closed_flows_finalised_early"]
            .as_u64()
            .expect("closed_flows_finalised_early");
        (early, out)
    };
    let (cut, _) = run(&["--json", "--memory", "34"]);
    assert!(cut > 500, "only {cut} finalised early");
    let (_, text, err) = read("-", &pcap, &["-q", "--memory", "34"], 1);
    let note = format!("{cut} closed TCP flows were finalised before the end of the 5 s linger");
    assert!(
        text.contains(&note) || err.contains(&note),
        "no note:\n{text}\n{err}"
    );
    let (early, default) = run(&["--json"]);
    assert_eq!(early, 0, "the default budget holds them all");
    let (early, capped) = run(&["--json", "--max-flows", "300"]);
    assert_eq!(
        early, 0,
        "lingering flows are not counted against --max-flows"
    );
    assert!(capped == default, "--max-flows 300 changed the output");
    assert_same_with_threads("-", &pcap, &["--json"], &[2]);
}

/// A long poll that reconnects for every poll: one held request per connection, each from a
/// new client port, so that the connections fall to different threads. Whether a flow is a
/// long poll depends on the flows closed before it.
fn reconnecting_long_poll() -> Vec<u8> {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    for n in 0..8u16 {
        let mut c = TcpConn::new(([10, 0, 0, 1], 41000 + n), ([10, 0, 0, 2], 80));
        c.handshake(&mut w);
        c.send(&mut w, C2S, b"GET /poll HTTP/1.1\r\nHost: a\r\n\r\n");
        w.wait(2_000_000);
        c.send(
            &mut w,
            S2C,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        );
        c.fin(&mut w);
    }
    w.bytes().to_vec()
}

#[test]
fn a_long_poll_reconnecting_from_flow_to_flow_is_told_with_threads_too() {
    let cap = reconnecting_long_poll();
    let (_, json, _) = read("-", &cap, &["--json"], 1);
    let kinds: Vec<&str> = json
        .lines()
        .filter(|l| l.starts_with("{\"type\":\"flow\""))
        .map(|l| {
            let at = l.find("\"kind\":\"").expect("a flow's kind") + 8;
            &l[at..at + l[at..].find('"').expect("closing quote")]
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "http",
            "long-poll",
            "long-poll",
            "long-poll",
            "long-poll",
            "long-poll",
            "long-poll",
            "long-poll"
        ],
        "the first connection alone is not a pattern"
    );
    for view in [
        &["--json"][..],
        &["-q"],
        &["-V"],
        &["--json", "--kind", "long-poll"],
        &["--json", "-Y", "flow.kind == \"long-poll\""],
        &[
            "-T",
            "fields",
            "-e",
            "flow.id",
            "-e",
            "flow.kind",
            "-e",
            "record.type",
        ],
    ] {
        assert_same_with_threads("-", &cap, view, &[2, 7]);
    }
}

/// Packets that each cause thousands of records: flows picked up mid-stream whose first
/// segment holds 3 000 pipelined requests (the packet that starts the flow), interleaved with
/// flows that answer some of them, and permessage-deflate flows whose one server segment
/// holds thousands of compressed messages. A worker hands such a packet's records on in parts
/// before the packet is done, so that they take no more memory than any batch's; the flow a
/// part's packet starts is numbered where one table numbers it.
fn packets_of_thousands_of_records() -> Vec<u8> {
    let mut pcap = common::hostile::capture(common::hostile::Shape::DeflateBurst, 3, 2000);
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    // After the deflate flows (10 µs apart from the same start).
    w.wait(1_000_000);
    let mut conns: Vec<TcpConn> = (0..4u8)
        .map(|k| TcpConn::new(([10, 3, 0, k], 42_000), ([192, 0, 2, 9], 80)))
        .collect();
    let mut requests = Vec::new();
    for i in 0..3000 {
        requests.extend_from_slice(format!("GET /{i} HTTP/1.1\r\n\r\n").as_bytes());
    }
    let answers = b"HTTP/1.1 204 No Content\r\n\r\n".repeat(40);
    for c in &mut conns {
        // No handshake: the segment of requests is the flow's first packet.
        w.packet(&c.raw(C2S, c.seq[C2S], ACK | PSH, &requests));
        c.seq[C2S] = c.seq[C2S].wrapping_add(requests.len() as u32);
    }
    for c in &mut conns {
        c.send(&mut w, S2C, &answers);
    }
    // Its records, without its file header.
    pcap.extend_from_slice(&w.take_bytes()[24..]);
    pcap
}

#[test]
fn packets_that_cause_thousands_of_records_print_the_same_with_threads() {
    let pcap = packets_of_thousands_of_records();
    for view in VIEWS {
        assert_same_with_threads("-", &pcap, view, &[2, 7]);
    }
    // The requests were analyzed: every flow's, numbered in the order of its first packet.
    let run = common::sockscope_with_stdin(&["read", "--json", "--threads", "2", "-"], &pcap);
    let report = run.report();
    let ids: Vec<u64> = report
        .of_type("flow")
        .filter_map(|f| common::u64_of(f, "id"))
        .collect();
    assert_eq!(ids, (1..=7).collect::<Vec<u64>>(), "flows");
    let requests = report
        .of_type("http")
        .filter(|m| common::str_of(m, "method") == Some("GET"))
        .count();
    // And the three upgrades of the deflate flows.
    assert_eq!(requests, 4 * 3000 + 3, "requests");
}
