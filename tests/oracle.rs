//! tshark as an independent oracle: every bundled capture, good and bad, dissected by tshark
//! (4.0) and by sockscope, compared flow by flow.
//!
//! Compared per TCP connection (tshark's `tcp.stream`, matched to sockscope's flow by its two
//! endpoints):
//! - the number of connections, and who is the client (the SYN's sender);
//! - payload bytes per direction. sockscope's `bytes_c2s` / `bytes_s2c` count the direction's
//!   sequence space from its first byte to its last: every byte the sender put on the wire
//!   once, retransmissions counted once, bytes missing from the file (lost before the capture
//!   point, or cut by the snaplen) included. tshark's equivalent is the highest
//!   `tcp.seq + tcp.len - 1` (relative sequence numbers start at 1). sockscope's `gaps` must
//!   equal the sequence space no segment of the file covers plus what the snaplen cut
//!   (`frame.len - frame.cap_len` of first-sent segments): tshark counts a cut segment's full
//!   `tcp.len`, sockscope reports the cut part as a gap. Where nothing is missing, the sum of
//!   `tcp.len` over the segments tshark does not flag as retransmissions (or keep-alives)
//!   equals the byte count too — except in the crafted out-of-order capture, where tshark
//!   flags as a retransmission the segment that merely arrives after higher ones;
//! - WebSocket frames per direction, in order: opcode, FIN, MASK, payload length, and close
//!   codes; message counts (data frames assembled with RFC 6455's rules over tshark's frame
//!   list);
//! - HTTP requests (method, URI) and response status codes per flow, in order;
//! - the handshake verdict: the accept value computed here from tshark's `Sec-WebSocket-Key`
//!   (`http.sec_websocket_key`) against tshark's `http.sec_websocket_accept`, and sockscope's
//!   `accept_valid`, key and accept;
//! - where the snaplen is the only reason bytes are missing: a `tcp.gap` at each packet tshark
//!   shows cut (`frame.len` > `frame.cap_len`), with exactly its cut payload bytes, and no
//!   other gap;
//! - the flow's packets and time span: sockscope's `packets` equals the frames of tshark's
//!   `-z conv,tcp` row for the connection (every packet from the SYN to the last ACK after the
//!   FINs, retransmitted FINs and their ACKs included), and `first_ts` / `last_ts` are the
//!   times of its first and last packet. tshark's per-packet dissection must agree with the
//!   conversation table per direction (frames, and frame bytes as the table prints them), and
//!   the TCP/IP header bytes of the overhead table, per flow kind, are the sum over those
//!   packets of the IP length less the TCP payload.
//!
//! Where tshark dissects a capture differently (it has no handshake to go by, or does not
//! resynchronise after a hole) the capture's entry below says so and what is compared instead;
//! nothing is skipped silently. Without tshark every test prints why it is skipped.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Options for every capture: reassemble TCP (HTTP heads and bodies, WebSocket frames spanning
/// segments) and analyze sequence numbers (retransmission flags, relative numbers).
const TSHARK_BASE: &[&str] = &[
    "-o",
    "tcp.desegment_tcp_streams:TRUE",
    "-o",
    "tcp.analyze_sequence_numbers:TRUE",
    "-o",
    "tcp.relative_sequence_numbers:TRUE",
    "-o",
    "http.desegment_headers:TRUE",
    "-o",
    "http.desegment_body:TRUE",
];

/// A request target as tshark prints it: each byte of a raw (not percent-encoded) non-ASCII
/// character becomes U+FFFD.
fn as_tshark_shows(target: &str) -> String {
    target
        .chars()
        .flat_map(|c| {
            let n = if c.is_ascii() { 0 } else { c.len_utf8() };
            std::iter::repeat_n('\u{fffd}', n).chain(c.is_ascii().then_some(c))
        })
        .collect()
}

/// How tshark sees one capture differently from sockscope.
#[derive(Clone, Copy)]
struct Quirks {
    /// tshark preferences (`-o`) this capture needs; they apply to a whole run, so such
    /// captures are dissected in a run of their own.
    prefs: &'static [&'static str],
    /// Non-standard server port to dissect as HTTP (`-d tcp.port==N,http`).
    http_port: Option<u16>,
    /// Dissect the connection as WebSocket from its first byte (`-d tcp.port==N,websocket` with
    /// the client's port, so that other captures' port 80 stays HTTP).
    websocket_from_first_byte: bool,
    /// tshark dissects no WebSocket at all here.
    tshark_sees_no_websocket: bool,
    /// The snaplen cut heads: both report their start lines, neither a handshake for a cut 101.
    cut_heads: bool,
    /// tshark flags as retransmissions segments that are not (they arrive out of order).
    misflagged_retransmissions: bool,
}

impl Quirks {
    const NONE: Quirks = Quirks {
        prefs: &[],
        http_port: None,
        websocket_from_first_byte: false,
        tshark_sees_no_websocket: false,
        cut_heads: false,
        misflagged_retransmissions: false,
    };
}

/// Decode-as rules (`-d`) for the captures of one run. Each names a port only one capture of
/// the run uses, so that it changes nothing for the others.
fn decode_as(names: &[&str]) -> Vec<String> {
    let ports_of = |name: &str| -> Vec<u16> {
        expected(name)
            .connections
            .iter()
            .flat_map(|c| [&c.client, &c.server])
            .filter_map(|e| e.rsplit(':').next()?.parse().ok())
            .collect()
    };
    let mut rules = Vec::new();
    for name in names {
        let q = quirks_of(name);
        let mut wanted = Vec::new();
        if let Some(port) = q.http_port {
            wanted.push((port, "http"));
        }
        if q.websocket_from_first_byte {
            let client = &expected(name).connections[0].client;
            let port = client
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
            wanted.push((port, "websocket"));
        }
        for (port, proto) in wanted {
            for other in names.iter().filter(|o| *o != name) {
                assert!(
                    !ports_of(other).contains(&port),
                    "decoding port {port} as {proto} for {name} would change {other}"
                );
            }
            rules.push("-d".to_owned());
            rules.push(format!("tcp.port=={port},{proto}"));
        }
    }
    rules
}

fn quirks_of(name: &str) -> Quirks {
    CAPTURES
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, q)| *q)
        .expect("listed capture")
}

/// tshark's packets of every capture, dissected in as few tshark runs as there are distinct
/// preference sets (see `tshark_packets_many`).
fn dissection(name: &str) -> Vec<TPacket> {
    static ALL: OnceLock<BTreeMap<&'static str, Vec<TPacket>>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let mut groups: BTreeMap<Vec<&str>, Vec<&'static str>> = BTreeMap::new();
        for (file, q) in CAPTURES {
            groups.entry(q.prefs.to_vec()).or_default().push(file);
        }
        // One tshark run per preference set, side by side.
        let runs: Vec<_> = groups
            .into_iter()
            .map(|(prefs, names)| {
                std::thread::spawn(move || {
                    let rules = decode_as(&names);
                    let mut options: Vec<&str> = TSHARK_BASE.to_vec();
                    options.extend(prefs);
                    options.extend(rules.iter().map(String::as_str));
                    let files: Vec<std::path::PathBuf> = names.iter().map(|n| capture(n)).collect();
                    names
                        .into_iter()
                        .zip(tshark_packets_many(&files, &options))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = BTreeMap::new();
        for run in runs {
            out.extend(run.join().expect("tshark run"));
        }
        out
    });
    all[name].clone()
}

fn opcode_num(name: &str) -> u64 {
    match name {
        "continuation" => 0,
        "text" => 1,
        "binary" => 2,
        "close" => 8,
        "ping" => 9,
        "pong" => 10,
        other => other
            .strip_prefix("reserved-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unknown opcode {other}")),
    }
}

/// Completed data messages in a frame list, by RFC 6455 §5.4: a text or binary frame starts a
/// message (abandoning one in progress), continuations extend it, FIN ends it; a continuation
/// with no message in progress belongs to none.
fn message_count(frames: &[TFrame]) -> usize {
    let mut open = false;
    let mut done = 0;
    for f in frames {
        match f.opcode {
            1 | 2 => open = true,
            0 => {}
            _ => continue,
        }
        if f.fin && open {
            done += 1;
            open = false;
        }
    }
    done
}

/// One row of tshark's `-z conv,tcp`: frames and bytes (as printed: `"1377 bytes"`,
/// `"348 kB"`) from B to A (`<-`), from A to B (`->`) and in all.
#[derive(Clone, Debug)]
struct Conv {
    a: String,
    b: String,
    to_a: (u64, String),
    from_a: (u64, String),
    total: (u64, String),
}

/// A byte count the way tshark's conversation table prints it: SI prefixes from ten units of
/// the next one up, truncated.
fn tshark_size(bytes: u64) -> String {
    let mut value = bytes;
    for unit in ["bytes", "kB", "MB", "GB"] {
        if value < 10_000 {
            return format!("{value} {unit}");
        }
        value /= 1000;
    }
    format!("{value} TB")
}

/// `2001:db8::1:57114` (tshark) as `[2001:db8::1]:57114` (sockscope).
fn conv_endpoint(e: &str) -> String {
    let (addr, port) = e.rsplit_once(':').expect("address:port");
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        e.to_owned()
    }
}

fn parse_conv(text: &str) -> Vec<Conv> {
    text.lines()
        .filter(|l| l.contains(" <-> "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert!(w.len() >= 12, "conv line: {l:?}");
            let cell = |i: usize| -> (u64, String) {
                let frames = w[i].parse().unwrap_or_else(|_| panic!("conv line: {l:?}"));
                (frames, format!("{} {}", w[i + 1], w[i + 2]))
            };
            Conv {
                a: conv_endpoint(w[0]),
                b: conv_endpoint(w[2]),
                to_a: cell(3),
                from_a: cell(6),
                total: cell(9),
            }
        })
        .collect()
}

fn tshark_conv(file: &std::path::Path) -> Vec<Conv> {
    let out = std::process::Command::new("tshark")
        .args(["-n", "-q", "-z", "conv,tcp", "-r"])
        .arg(file)
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark -z conv,tcp on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_conv(&String::from_utf8(out.stdout).expect("UTF-8"))
}

/// The endpoint pair of a connection, in a fixed order.
fn pair(x: &str, y: &str) -> (String, String) {
    if x <= y {
        (x.to_owned(), y.to_owned())
    } else {
        (y.to_owned(), x.to_owned())
    }
}

/// `-z conv,tcp` rows of a capture. The captures are concatenated and tabulated in one run
/// (tshark's start-up dominates), each row going back to the capture with its endpoints;
/// captures that share an endpoint pair with another (the table would add them up) and all
/// of them without mergecap are tabulated alone.
fn conversations(name: &str) -> Vec<Conv> {
    static ALL: OnceLock<BTreeMap<&'static str, Vec<Conv>>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let pairs_of = |file: &str| -> std::collections::BTreeSet<(String, String)> {
            dissection(file)
                .iter()
                .map(|p| pair(&p.src, &p.dst))
                .collect()
        };
        let mut owners: BTreeMap<(String, String), Vec<&'static str>> = BTreeMap::new();
        for (file, _) in CAPTURES {
            for p in pairs_of(file) {
                owners.entry(p).or_default().push(file);
            }
        }
        let alone: std::collections::BTreeSet<&str> = owners
            .values()
            .filter(|files| files.len() > 1)
            .flatten()
            .copied()
            .collect();
        let mut out: BTreeMap<&'static str, Vec<Conv>> =
            CAPTURES.iter().map(|(f, _)| (*f, Vec::new())).collect();
        let together: Vec<&'static str> = CAPTURES
            .iter()
            .map(|(f, _)| *f)
            .filter(|f| !alone.contains(f))
            .collect();
        let merged = std::process::Command::new("mergecap")
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success());
        let mut singles: Vec<&'static str> = alone.into_iter().collect();
        if merged && together.len() > 1 {
            let dir = tempfile::tempdir().expect("temp dir");
            let file = dir.path().join("all.pcapng");
            let status = std::process::Command::new("mergecap")
                .args(["-a", "-F", "pcapng", "-w"])
                .arg(&file)
                .args(together.iter().map(|n| capture(n)))
                .status()
                .expect("run mergecap");
            assert!(status.success(), "mergecap failed");
            for conv in tshark_conv(&file) {
                let owner = owners
                    .get(&pair(&conv.a, &conv.b))
                    .and_then(|files| files.first())
                    .unwrap_or_else(|| panic!("conv row of no capture: {conv:?}"));
                out.entry(owner).or_default().push(conv);
            }
        } else {
            singles.extend(together);
        }
        for file in singles {
            out.insert(file, tshark_conv(&capture(file)));
        }
        out
    });
    all[name].clone()
}

fn compare(name: &str) {
    require_tshark!();
    let q = quirks_of(name);
    let file = capture(name);
    let r = read_json(&file, &["--any-port", "--snap-preview", "300"]);
    let packets = dissection(name);
    let streams = tshark_streams(&packets, &r);
    let flows = r.flows();
    let mut d = Diffs::new("sockscope", "tshark");

    d.eq(format!("{name}: connections"), flows.len(), streams.len());

    // Every record that names a packet carries that packet's time.
    let times: BTreeMap<u64, i64> = packets.iter().map(|p| (p.number, p.time_us)).collect();
    for rec in &r.records {
        let (Some(pkt), Some(ts)) = (u64_of(rec, "frame"), rec.get("ts").and_then(|t| t.as_f64()))
        else {
            continue;
        };
        // Microsecond timestamps of this century are exact in an f64 (below 2^53 µs).
        let ours = (ts * 1e6).round() as i64;
        match times.get(&pkt) {
            Some(t) => d.eq(format!("{name}: time of packet {pkt}"), ours, *t),
            None => d.0.push(format!(
                "{name}: record names packet {pkt}, not a TCP packet: {rec}"
            )),
        }
    }
    for s in streams.values() {
        let at = format!(
            "{name}: tcp.stream {} ({} -> {})",
            s.stream, s.client, s.server
        );
        let Some(id) = flow_for(&r, &s.client, &s.server) else {
            d.0.push(format!("{at}: no sockscope flow"));
            continue;
        };
        let f = flows[&id];
        let times = s.packets.iter().flatten().map(|p| p.time_us);
        let ts_us = |key: &str| {
            f.get(key)
                .and_then(|t| t.as_f64())
                .map(|t| (t * 1e6).round() as i64)
        };
        d.eq(
            format!("{at}: first_ts"),
            ts_us("first_ts"),
            times.clone().min(),
        );
        d.eq(
            format!("{at}: last_ts (the last ACK included)"),
            ts_us("last_ts"),
            times.max(),
        );
        let syn = s.packets[0].iter().any(|p| p.syn && !p.ack);
        if syn {
            d.eq(
                format!("{at}: client"),
                str_of(f, "client"),
                Some(s.client.as_str()),
            );
        }

        // Bytes.
        let mut absent = 0;
        let mut snapped = 0;
        for (di, dir) in ["c2s", "s2c"].iter().enumerate() {
            let bytes = u64_of(f, &format!("bytes_{dir}"));
            d.eq(
                format!("{at}: {dir} payload bytes"),
                bytes,
                Some(s.extent(di)),
            );
            absent += s.extent(di) - s.covered(di);
            snapped += s.snapped(di);
        }
        d.eq(
            format!("{at}: bytes missing (gaps)"),
            u64_of(f, "gaps"),
            Some(absent + snapped),
        );

        // Where only the snaplen took bytes, each cut packet (tshark: `frame.len` over
        // `frame.cap_len`) has its gap, with exactly the cut bytes, at that packet: the
        // segment's range is known there, nothing needs to follow it.
        if absent == 0 {
            for (di, dir) in ["c2s", "s2c"].iter().enumerate() {
                let theirs: Vec<(u64, u64)> = s.packets[di]
                    .iter()
                    .filter(|p| !p.retransmission && !p.keep_alive && p.tcp_len > 0)
                    .filter(|p| p.len > p.cap_len)
                    .map(|p| (p.number, (p.len - p.cap_len).min(p.tcp_len)))
                    .collect();
                let ours: Vec<(u64, u64)> = r
                    .of_flow("anomaly", id)
                    .into_iter()
                    .filter(|a| {
                        str_of(a, "code") == Some("tcp.gap") && str_of(a, "dir") == Some(dir)
                    })
                    .map(|a| {
                        let bytes = str_of(a, "detail")
                            .and_then(|t| t.split_whitespace().next())
                            .and_then(|n| n.parse().ok())
                            .unwrap_or_default();
                        (u64_of(a, "frame").unwrap_or_default(), bytes)
                    })
                    .collect();
                d.eq(format!("{at}: {dir} gaps (packet, bytes)"), ours, theirs);
            }
        }

        // With nothing missing, what tshark does not flag as retransmitted is the byte count.
        if absent == 0 && snapped == 0 && !q.misflagged_retransmissions {
            for (di, dir) in ["c2s", "s2c"].iter().enumerate() {
                d.eq(
                    format!("{at}: {dir} bytes not flagged as retransmissions"),
                    u64_of(f, &format!("bytes_{dir}")),
                    Some(s.first_sent(di)),
                );
            }
        }

        // WebSocket frames and messages.
        for (di, dir) in ["c2s", "s2c"].iter().enumerate() {
            let ours: Vec<(u64, TFrame)> = r
                .ws_frames(id, dir)
                .iter()
                .map(|g| {
                    let frame = TFrame {
                        opcode: opcode_num(str_of(g, "opcode").unwrap_or_default()),
                        fin: bool_of(g, "fin").unwrap_or_default(),
                        masked: bool_of(g, "masked").unwrap_or_default(),
                        payload_len: u64_of(g, "payload_len").unwrap_or_default(),
                        close_code: u64_of(g, "close_code"),
                    };
                    (u64_of(g, "frame").unwrap_or_default(), frame)
                })
                .collect();
            // Each frame in the packet that completed it, as tshark shows a reassembled PDU.
            let theirs = s.frames_at(di);
            let messages = r
                .of_flow("ws_message", id)
                .into_iter()
                .filter(|m| str_of(m, "dir") == Some(dir))
                .count();
            if q.tshark_sees_no_websocket {
                d.eq(
                    format!("{at}: {dir} tshark WebSocket frames"),
                    0,
                    theirs.len(),
                );
                continue;
            }
            d.eq(format!("{at}: {dir} frames"), &ours, &theirs);
            d.eq(
                format!("{at}: {dir} messages"),
                messages,
                message_count(&s.frames(di)),
            );
        }

        // HTTP.
        let requests: Vec<(u64, String, String)> = r
            .http(id, "c2s")
            .iter()
            .map(|h| {
                (
                    u64_of(h, "frame").unwrap_or_default(),
                    str_of(h, "method").unwrap_or_default().to_owned(),
                    as_tshark_shows(str_of(h, "target").unwrap_or_default()),
                )
            })
            .collect();
        let statuses: Vec<(u64, u64)> = r
            .http(id, "s2c")
            .iter()
            .filter_map(|h| Some((u64_of(h, "frame")?, u64_of(h, "status")?)))
            .collect();
        // Each message in the packet that completed it (a head the snaplen cut: in the cut
        // packet, as tshark shows its start line).
        d.eq(format!("{at}: requests"), requests, s.requests_at());
        d.eq(format!("{at}: responses"), statuses, s.responses_at());
        if q.cut_heads {
            // The 101's head was cut: neither switches to WebSocket on it, so no handshake.
            d.eq(
                format!("{at}: handshake of cut heads"),
                r.handshake(id).is_some(),
                false,
            );
            d.eq(
                format!("{at}: tshark start lines"),
                (s.requests().len(), s.responses()),
                (1, vec![101]),
            );
            continue;
        }

        // The handshake verdict: a handshake record for every 101, with tshark's key and
        // accept and the verdict computed here from them.
        let keys: Vec<&String> = s.packets[0].iter().flat_map(|p| &p.ws_keys).collect();
        let accepts: Vec<&String> = s.packets[1].iter().flat_map(|p| &p.ws_accepts).collect();
        let switched = s.responses().contains(&101);
        match r.handshake(id) {
            None => d.eq(
                format!("{at}: handshake record after a 101"),
                false,
                switched,
            ),
            Some(h) => {
                d.eq(
                    format!("{at}: handshake record after a 101"),
                    true,
                    switched,
                );
                let key = keys.first().map(|k| k.as_str());
                let accept = accepts.first().map(|a| a.as_str());
                let valid = matches!((key, accept), (Some(k), Some(a)) if websocket_accept(k) == a);
                d.eq(
                    format!("{at}: accept_valid"),
                    bool_of(h, "accept_valid"),
                    Some(valid),
                );
                d.eq(format!("{at}: key"), str_of(h, "key"), key);
                d.eq(format!("{at}: accept"), str_of(h, "accept"), accept);
            }
        }
    }
    compare_conversations(name, &r, &packets, &mut d);
    assert!(
        d.0.is_empty(),
        "{} differences:\n{}",
        d.0.len(),
        d.0.join("\n")
    );
}

/// Packets and bytes per connection against tshark's conversation table, and the overhead
/// table's TCP/IP header bytes per flow kind against the packets' headers.
fn compare_conversations(name: &str, r: &Report, packets: &[TPacket], d: &mut Diffs) {
    let flows = r.flows();
    let convs = conversations(name);
    let flow_pairs: std::collections::BTreeSet<(String, String)> = flows
        .values()
        .filter_map(|f| Some(pair(str_of(f, "client")?, str_of(f, "server")?)))
        .collect();
    let conv_pairs: std::collections::BTreeSet<(String, String)> =
        convs.iter().map(|c| pair(&c.a, &c.b)).collect();
    d.eq(format!("{name}: conversations"), &flow_pairs, &conv_pairs);
    for c in &convs {
        let at = format!("{name}: conversation {} <-> {}", c.a, c.b);
        // A tuple reused after a close is two flows (and two tcp.streams) but one row.
        let ours: u64 = flows
            .values()
            .filter(|f| {
                matches!((str_of(f, "client"), str_of(f, "server")),
                    (Some(x), Some(y)) if pair(x, y) == pair(&c.a, &c.b))
            })
            .filter_map(|f| u64_of(f, "packets"))
            .sum();
        d.eq(format!("{at}: packets"), ours, c.total.0);
        let from = |src: &str, dst: &str| -> (u64, String) {
            let ps: Vec<&TPacket> = packets
                .iter()
                .filter(|p| p.src == src && p.dst == dst)
                .collect();
            (ps.len() as u64, tshark_size(ps.iter().map(|p| p.len).sum()))
        };
        d.eq(
            format!("{at}: tshark packets from A (frames, bytes)"),
            from(&c.a, &c.b),
            c.from_a.clone(),
        );
        d.eq(
            format!("{at}: tshark packets to A (frames, bytes)"),
            from(&c.b, &c.a),
            c.to_a.clone(),
        );
        let all: u64 = packets
            .iter()
            .filter(|p| pair(&p.src, &p.dst) == pair(&c.a, &c.b))
            .map(|p| p.len)
            .sum();
        d.eq(
            format!("{at}: total bytes"),
            tshark_size(all),
            c.total.1.clone(),
        );
    }
    // TCP/IP header bytes per flow kind.
    let mut theirs: BTreeMap<String, u64> = BTreeMap::new();
    for p in packets {
        let Some(id) = flow_for(r, &p.src, &p.dst) else {
            continue;
        };
        let kind = str_of(flows[&id], "kind").unwrap_or_default().to_owned();
        *theirs.entry(kind).or_default() += p.tcpip_header_len;
    }
    let ours: BTreeMap<String, u64> = r.summary()["overhead"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            Some((
                str_of(o, "kind")?.to_owned(),
                u64_of(o, "tcpip_header_bytes")?,
            ))
        })
        .collect();
    d.eq(
        format!("{name}: TCP/IP header bytes per kind"),
        ours,
        theirs,
    );
}

macro_rules! quirks {
    () => {
        Quirks::NONE
    };
    ($q:expr) => {
        $q
    };
}

macro_rules! oracle {
    ($($test:ident: $file:literal $(=> $quirks:expr)?;)*) => {
        /// Every capture and how tshark sees it.
        const CAPTURES: &[(&str, Quirks)] = &[$(($file, quirks!($($quirks)?))),*];

        $(
            #[test]
            fn $test() {
                compare($file);
            }
        )*

        /// Every capture in `captures/` has its comparison here.
        #[test]
        fn every_capture_is_compared() {
            let listed: std::collections::BTreeSet<&str> = [$($file),*].into_iter().collect();
            let files = capture_files();
            let files: std::collections::BTreeSet<&str> = files.iter().map(String::as_str).collect();
            assert_eq!(listed, files);
        }
    };
}

oracle! {
    api_errors: "api-errors.pcap";
    chromium_ws: "chromium-ws.pcap";
    http_keepalive: "http-keepalive.pcap";
    http_upgrade_refused: "http-upgrade-refused.pcap";
    long_poll: "long-poll.pcap";
    polling: "polling.pcap";
    sse: "sse.pcap";
    two_links: "two-links.pcapng";
    ws_chat: "ws-chat.pcap";
    ws_deflate: "ws-deflate.pcap";
    ws_fragmented: "ws-fragmented.pcap";
    ws_ipv6: "ws-ipv6.pcap";
    ws_lengths: "ws-lengths.pcap";
    ws_lossy: "ws-lossy.pcap";
    // Without the handshake tshark cannot know the stream is WebSocket: decoded as such from
    // its first byte, as sockscope does by content.
    ws_midstream: "ws-midstream.pcap" => Quirks {
        websocket_from_first_byte: true,
        ..Quirks::NONE
    };
    // Not on port 80: tshark needs to be told it is HTTP (sockscope finds it with --any-port).
    ws_port8080: "ws-port8080.pcap" => Quirks {
        http_port: Some(8080),
        ..Quirks::NONE
    };
    ws_sll: "ws-sll.pcap";
    ws_sll2: "ws-sll2.pcap";
    // The snaplen cut the 101 response: tshark never switches the stream to WebSocket and
    // dissects the frames as HTTP continuation data, while it shows the cut heads' start lines
    // (as sockscope does, flagged http.truncated). Bytes, gaps and start lines are compared;
    // sockscope's frames are compared with the peers' logs in tests/captures.rs.
    ws_small_snaplen: "ws-small-snaplen.pcap" => Quirks {
        tshark_sees_no_websocket: true,
        cut_heads: true,
        ..Quirks::NONE
    };
    http_wild_heads: "http-wild-heads.pcap";
    http_slow_pipeline: "http-slow-pipeline.pcap";
    bad_http_parse_error: "bad/http-parse-error.pcap";
    bad_http_request_field_space: "bad/http-request-field-space.pcap";
    // The crafted out-of-order segment must be reassembled for tshark to see the request; it
    // keeps the first-seen bytes too (`/index.html`).
    bad_tcp_overlap_conflict: "bad/tcp-overlap-conflict.pcap" => Quirks {
        prefs: &["-o", "tcp.reassemble_out_of_order:TRUE"],
        misflagged_retransmissions: true,
        ..Quirks::NONE
    };
    // The server answers the SYN with a bare ACK that is not for it; the client's RST and
    // its retransmitted SYN (same ISN) are part of one connection, as in tshark.
    bad_tcp_rst_out_of_window: "bad/tcp-rst-out-of-window.pcap";
    bad_ws_accept_mismatch: "bad/ws-accept-mismatch.pcap";
    bad_ws_control_fragmented: "bad/ws-control-fragmented.pcap";
    bad_ws_control_too_long: "bad/ws-control-too-long.pcap";
    bad_ws_data_after_close: "bad/ws-data-after-close.pcap";
    // Packet 19 was removed from the file. tshark (without tcp.reassemble_out_of_order, which
    // would make it wait for the hole forever) dissects each later segment afresh; they all
    // start with a frame header, so its frames after the hole are the ones sockscope finds by
    // resynchronising.
    bad_ws_gap: "bad/ws-gap.pcap";
    bad_ws_handshake_invalid: "bad/ws-handshake-invalid.pcap";
    bad_ws_inflate_error: "bad/ws-inflate-error.pcap";
    bad_ws_interleaved_data: "bad/ws-interleaved-data.pcap";
    bad_ws_invalid_close_code: "bad/ws-invalid-close-code.pcap";
    bad_ws_invalid_utf8: "bad/ws-invalid-utf8.pcap";
    bad_ws_masked_server_frame: "bad/ws-masked-server-frame.pcap";
    bad_ws_non_minimal_length: "bad/ws-non-minimal-length.pcap";
    bad_ws_reserved_opcode: "bad/ws-reserved-opcode.pcap";
    bad_ws_rsv_without_extension: "bad/ws-rsv-without-extension.pcap";
    bad_ws_unexpected_continuation: "bad/ws-unexpected-continuation.pcap";
    bad_ws_unmasked_client_frame: "bad/ws-unmasked-client-frame.pcap";
}

/// The oracle itself must not be vacuous: on the richest captures tshark finds what the peers
/// logged (frames, requests, a handshake).
#[test]
fn tshark_dissects_what_the_captures_hold() {
    require_tshark!();
    let chat = tshark_packets(&capture("ws-chat.pcap"), TSHARK_BASE);
    let r = read_json(&capture("ws-chat.pcap"), &[]);
    let streams = tshark_streams(&chat, &r);
    let s = streams.values().next().expect("one stream");
    assert_eq!(s.frames(0).len() + s.frames(1).len(), 16);
    assert_eq!(s.requests(), [("GET".to_owned(), "/chat".to_owned())]);
    assert_eq!(s.responses(), [101]);
    let keep = tshark_packets(&capture("http-keepalive.pcap"), TSHARK_BASE);
    let by_stream: BTreeMap<u64, usize> = keep.iter().fold(BTreeMap::new(), |mut m, p| {
        *m.entry(p.stream).or_default() += p.requests.len();
        m
    });
    assert_eq!(by_stream.values().sum::<usize>(), 8);
}

/// The conversation table prints byte counts with SI prefixes; `tshark_size` must print them
/// the same way around each threshold, or the byte comparison above would be meaningless.
#[test]
fn byte_counts_are_printed_as_tshark_prints_them() {
    require_tshark!();
    let totals = [9_999u64, 10_000, 10_999, 123_456];
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    for (i, &total) in totals.iter().enumerate() {
        let sport = 1001 + i as u16;
        let mut left = total;
        while left > 0 {
            // Ethernet 14 + IPv4 20 + TCP 20 = 54 bytes of headers; leave room for one more.
            let mut n = left.min(1500);
            if left > n && left - n < 60 {
                n = left - 60;
            }
            let payload = vec![b'a'; (n - 54) as usize];
            let seg = tcp_segment(sport, 80, 1, 1, ACK, &payload);
            w.packet(&eth_ipv4([10, 0, 0, 1], [10, 0, 0, 2], 6, 0x4000, 1, &seg));
            left -= n;
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("sizes.pcap");
    std::fs::write(&file, w.bytes()).expect("write capture");
    let convs = tshark_conv(&file);
    assert_eq!(convs.len(), totals.len());
    for (i, &total) in totals.iter().enumerate() {
        let client = format!("10.0.0.1:{}", 1001 + i);
        let c = convs
            .iter()
            .find(|c| c.a == client || c.b == client)
            .expect("conversation");
        assert_eq!(c.total.1, tshark_size(total), "{total} bytes: {c:?}");
    }
    assert_eq!(tshark_size(10_999), "10 kB");
}
