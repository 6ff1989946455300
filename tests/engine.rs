//! The capture engine end to end (source → decode → TCP reassembly), through the binary:
//! - real captures of every kind the engine must handle (retransmissions, mid-stream pick-up,
//!   IPv6, LINUX_SLL, LINUX_SLL2, a pcapng with two link types): connections and payload bytes
//!   per direction equal tshark's, and nothing is reported that did not happen (identical
//!   retransmissions are not overlap conflicts);
//! - input forms: gzip, stdin, several files read as one capture, pcapng converted by editcap;
//! - malformed files: exit status 2 and one line on stderr naming the file and the byte
//!   offset, never a panic;
//! - port selection: `--any-port` and the hint about skipped flows.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// The real captures the engine is checked on, and why each is here.
const ENGINE_CAPTURES: &[(&str, &str)] = &[
    (
        "ws-lossy.pcap",
        "real retransmissions, each original and its copy on the wire",
    ),
    (
        "ws-midstream.pcap",
        "no SYN: roles and stream start from the data",
    ),
    ("ws-ipv6.pcap", "IPv6, with ICMPv6 to skip"),
    ("ws-sll.pcap", "LINUX_SLL link layer"),
    ("ws-sll2.pcap", "LINUX_SLL2 link layer"),
    (
        "two-links.pcapng",
        "one pcapng, two interfaces of different link types",
    ),
];

#[test]
fn real_captures_agree_with_tshark_on_connections_and_bytes() {
    require_tshark!();
    let files: Vec<_> = ENGINE_CAPTURES.iter().map(|(n, _)| capture(n)).collect();
    // Plain TCP analysis: nothing here depends on how tshark dissects the payload.
    let dissected = tshark_packets_many(&files, &["-o", "tcp.analyze_sequence_numbers:TRUE"]);
    let mut diffs = Vec::new();
    for ((name, why), packets) in ENGINE_CAPTURES.iter().zip(dissected) {
        let r = read_json(&capture(name), &["--any-port"]);
        let streams = tshark_streams(&packets, &r);
        let flows = r.flows();
        let at = format!("{name} ({why})");
        if flows.len() != streams.len() {
            diffs.push(format!(
                "{at}: {} flows, tshark {} streams",
                flows.len(),
                streams.len()
            ));
        }
        assert!(!streams.is_empty(), "{at}: tshark found no TCP");
        for s in streams.values() {
            let Some(id) = flow_for(&r, &s.client, &s.server) else {
                diffs.push(format!("{at}: no flow for {} -> {}", s.client, s.server));
                continue;
            };
            let f = flows[&id];
            for (d, dir) in ["c2s", "s2c"].iter().enumerate() {
                let ours = u64_of(f, &format!("bytes_{dir}"));
                if ours != Some(s.extent(d)) {
                    diffs.push(format!(
                        "{at}: flow {id} {dir}: {ours:?} bytes, tshark {}",
                        s.extent(d)
                    ));
                }
                // Nothing is missing from these files: every byte was captured at least once,
                // and what tshark does not flag as a retransmission adds up to the same.
                if s.covered(d) != s.extent(d) || s.first_sent(d) != s.extent(d) {
                    diffs.push(format!(
                        "{at}: flow {id} {dir}: tshark covers {} and first-sends {} of {} bytes",
                        s.covered(d),
                        s.first_sent(d),
                        s.extent(d)
                    ));
                }
            }
            if u64_of(f, "gaps") != Some(0) {
                diffs.push(format!("{at}: flow {id} reports gaps: {f}"));
            }
        }
        let want: BTreeSet<String> = expected(name).anomalies.into_iter().collect();
        if r.codes() != want {
            diffs.push(format!(
                "{at}: anomalies {:?}, expected {want:?}",
                r.codes()
            ));
        }
        if *name == "ws-lossy.pcap" {
            // The point of this capture: retransmitted segments with payload, each identical
            // to its original, none of them an overlap conflict.
            let retransmitted = packets
                .iter()
                .filter(|p| p.retransmission && p.tcp_len > 0)
                .count();
            assert!(
                retransmitted >= 10,
                "only {retransmitted} retransmissions in {name}"
            );
            assert!(!r.codes().contains("tcp.overlap_conflict"));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// The payload bytes tshark's "Follow TCP stream" gives each way (`-z follow,tcp,raw,N`):
/// `(first node's endpoint, [its bytes, the other node's bytes])`.
fn follow_raw(file: &Path, stream: u64) -> (String, [u64; 2]) {
    let out = run_ok(Command::new("tshark").arg("-n").arg("-r").arg(file).args([
        "-q",
        "-z",
        &format!("follow,tcp,raw,{stream}"),
    ]));
    let text = String::from_utf8(out).expect("UTF-8");
    let mut node0 = String::new();
    let mut bytes = [0u64; 2];
    let mut in_data = false;
    for line in text.lines() {
        if let Some(ep) = line.strip_prefix("Node 0: ") {
            node0 = ep.trim().to_owned();
        } else if line.starts_with("Node 1: ") {
            in_data = true;
        } else if line.starts_with("====") {
            in_data = false;
        } else if in_data && !line.trim().is_empty() {
            let node = usize::from(line.starts_with('\t'));
            bytes[node] += line.trim().len() as u64 / 2;
        }
    }
    (node0, bytes)
}

#[test]
fn lossy_capture_bytes_equal_tsharks_followed_stream() {
    require_tshark!();
    let file = capture("ws-lossy.pcap");
    let r = read_json(&file, &[]);
    let flows = r.flows();
    let f = flows[&1];
    let (node0, bytes) = follow_raw(&file, 0);
    let client_first = str_of(f, "client") == Some(node0.as_str());
    assert!(
        client_first || str_of(f, "server") == Some(node0.as_str()),
        "{node0}"
    );
    let [c2s, s2c] = if client_first {
        bytes
    } else {
        [bytes[1], bytes[0]]
    };
    assert_eq!(u64_of(f, "bytes_c2s"), Some(c2s));
    assert_eq!(u64_of(f, "bytes_s2c"), Some(s2c));
    assert!(c2s > 100_000 && s2c > 100_000);
}

// ---------------------------------------------------------------------------------------------
// Input forms

/// Everything but the records that name the input.
fn records_of(run: Run) -> Vec<serde_json::Value> {
    run.report().records
}

fn read_args(files: &[&Path]) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "read".into(),
        "--json".into(),
        "--digest".into(),
        "--any-port".into(),
    ];
    args.extend(files.iter().map(|f| f.as_os_str().to_owned()));
    args
}

#[test]
fn gzip_and_stdin_give_the_same_records() {
    for name in ["ws-chat.pcap", "two-links.pcapng", "ws-lengths.pcap"] {
        let file = capture(name);
        let plain = records_of(sockscope(&read_args(&[&file])));
        assert!(plain.len() > 10, "{name}");

        let raw = std::fs::read(&file).expect("read capture");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&raw).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let (_dir, gz_path) = temp_file(&format!("{name}.gz"), &gz);
        assert_eq!(
            records_of(sockscope(&read_args(&[&gz_path]))),
            plain,
            "{name}.gz"
        );

        let stdin = ["read", "--json", "--digest", "--any-port", "-"];
        assert_eq!(
            records_of(sockscope_with_stdin(&stdin, &raw)),
            plain,
            "{name} on stdin"
        );
        assert_eq!(
            records_of(sockscope_with_stdin(&stdin, &gz)),
            plain,
            "{name}.gz on stdin"
        );
    }
}

#[test]
fn several_files_are_one_capture_with_continuing_packet_numbers() {
    let (a, b) = (capture("ws-chat.pcap"), capture("sse.pcap"));
    let first = read_json(&a, &[]);
    let second = read_json(&b, &[]);
    let both = records_of(sockscope(&read_args(&[&a, &b])));
    let both = Report { records: both };
    let packets_a = u64_of(first.summary(), "packets").expect("packets");
    let packets_b = u64_of(second.summary(), "packets").expect("packets");
    assert_eq!(
        u64_of(both.summary(), "packets"),
        Some(packets_a + packets_b)
    );
    assert_eq!(u64_of(both.summary(), "flows"), Some(2));
    // The second file's flow is flow 2, its packets numbered after the first file's.
    let frames = |r: &Report, flow: u64| -> Vec<u64> {
        r.of_flow("http", flow)
            .into_iter()
            .filter_map(|h| u64_of(h, "frame"))
            .collect()
    };
    let alone = frames(&second, 1);
    assert!(!alone.is_empty());
    let shifted: Vec<u64> = alone.iter().map(|n| n + packets_a).collect();
    assert_eq!(frames(&both, 2), shifted);
    assert_eq!(frames(&both, 1), frames(&first, 1));
    assert_eq!(
        both.of_flow("sse_event", 2).len(),
        second.of_flow("sse_event", 1).len()
    );
}

/// Where the TCP payload of an Ethernet/IPv4 frame starts, and how long it is.
fn tcp_payload(frame: &[u8]) -> Option<(usize, usize)> {
    let ip = frame.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let doff = usize::from(ip.get(ihl + 12)? >> 4) * 4;
    let start = 14 + ihl + doff;
    Some((start, (14 + total).min(frame.len()).checked_sub(start)?))
}

/// A retransmission of a segment of a whole conflict window or more (which the reassembly
/// remembers by its place in the mapped file rather than by a copy) that differs from the
/// original is an overlap conflict: read in the same file, in the next file of the same run
/// (its place is copied out before the first file goes), and with two threads. An identical
/// copy is not.
#[test]
fn a_changed_copy_of_a_large_segment_is_an_overlap_conflict() {
    const CONFLICT: &str = "tcp.overlap_conflict";
    let cap = PcapFile::read(&capture("ws-lengths.pcap"));
    let (at, (start, len)) = cap
        .records
        .iter()
        .enumerate()
        .find_map(|(i, (_, data))| {
            tcp_payload(data)
                .filter(|&(_, n)| n >= 1000)
                .map(|p| (i, p))
        })
        .expect("a segment of 1000 bytes or more");
    let mut changed = cap.records[at].clone();
    changed.1[start + len - 10] ^= 0x20;
    let with_copy = |copy: &([u8; 16], Vec<u8>)| {
        let mut records = cap.records.clone();
        records.insert(at + 1, copy.clone());
        PcapFile {
            header: cap.header.clone(),
            records,
        }
    };
    let codes = |files: &[&Path], threads: &str| {
        let mut args = read_args(files);
        args.extend(["--threads".into(), threads.into()]);
        Report {
            records: records_of(sockscope(&args)),
        }
        .codes()
    };
    let conflicting = with_copy(&changed);
    let identical = with_copy(&cap.records[at]);
    let (_dir, one) = temp_file("changed.pcap", &conflicting.bytes());
    let (_same_dir, same) = temp_file("same.pcap", &identical.bytes());
    // The first file ends with the original, the second starts with its copy.
    let split = |file: &PcapFile, records: std::ops::Range<usize>| PcapFile {
        header: cap.header.clone(),
        records: file.records[records].to_vec(),
    };
    let rest = at + 1..conflicting.records.len();
    let (_a_dir, first) = temp_file("a.pcap", &split(&conflicting, 0..at + 1).bytes());
    let (_b_dir, second) = temp_file("b.pcap", &split(&conflicting, rest.clone()).bytes());
    let (_c_dir, second_same) = temp_file("c.pcap", &split(&identical, rest).bytes());
    for threads in ["1", "2"] {
        assert!(codes(&[&one], threads).contains(CONFLICT), "{threads}");
        assert!(!codes(&[&same], threads).contains(CONFLICT), "{threads}");
        assert!(
            codes(&[&first, &second], threads).contains(CONFLICT),
            "split, {threads}"
        );
        assert!(
            !codes(&[&first, &second_same], threads).contains(CONFLICT),
            "split, identical, {threads}"
        );
    }
}

/// Whether `editcap` (it comes with tshark) can be run.
fn editcap_works() -> bool {
    Command::new("editcap")
        .arg("-h")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Rewrites `input` as `output` in editcap's file `format`, and checks that the result starts
/// with that format's `magic` bytes.
fn editcap(input: &Path, format: &str, output: &Path, magic: [u8; 4]) {
    run_ok(
        Command::new("editcap")
            .args(["-F", format])
            .arg(input)
            .arg(output),
    );
    assert_eq!(
        std::fs::read(output).expect("converted capture").get(..4),
        Some(&magic[..]),
        "{format}"
    );
}

#[test]
fn pcapng_written_by_editcap_gives_the_same_records() {
    if !editcap_works() {
        common::skip("editcap is not installed (it comes with tshark)");
        return;
    }
    for name in [
        "ws-chat.pcap",
        "ws-sll2.pcap",
        "ws-ipv6.pcap",
        "ws-lossy.pcap",
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let ng = dir.path().join(format!("{name}ng"));
        editcap(&capture(name), "pcapng", &ng, [0x0a, 0x0d, 0x0d, 0x0a]);
        assert_eq!(
            records_of(sockscope(&read_args(&[&ng]))),
            records_of(sockscope(&read_args(&[&capture(name)]))),
            "{name} as pcapng"
        );
    }
}

/// The same capture as a big-endian pcap: every header field byte-swapped (packet bytes are
/// left as they are), written here without any of sockscope's code.
fn big_endian(le: &PcapFile) -> Vec<u8> {
    let h = &le.header;
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4"));
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes(b[at..at + 2].try_into().expect("2"));
    let mut out = Vec::new();
    out.extend_from_slice(&u32_at(h, 0).to_be_bytes());
    out.extend_from_slice(&u16_at(h, 4).to_be_bytes());
    out.extend_from_slice(&u16_at(h, 6).to_be_bytes());
    for at in [8, 12, 16, 20] {
        out.extend_from_slice(&u32_at(h, at).to_be_bytes());
    }
    for (rec, data) in &le.records {
        for at in [0, 4, 8, 12] {
            out.extend_from_slice(&u32_at(rec, at).to_be_bytes());
        }
        out.extend_from_slice(data);
    }
    out
}

#[test]
fn byte_order_and_timestamp_resolution_do_not_change_the_records() {
    for name in ["ws-chat.pcap", "ws-sll2.pcap"] {
        let file = capture(name);
        let want = records_of(sockscope(&read_args(&[&file])));
        let be = big_endian(&PcapFile::read(&file));
        assert_eq!(be.get(..4), Some(&[0xa1, 0xb2, 0xc3, 0xd4][..]));
        let (_d, be_path) = temp_file("big-endian.pcap", &be);
        assert_eq!(
            records_of(sockscope(&read_args(&[&be_path]))),
            want,
            "{name} big-endian"
        );

        if !editcap_works() {
            common::skip("nanosecond pcap not checked: editcap is not installed");
            continue;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let ns = dir.path().join("ns.pcap");
        editcap(&file, "nsecpcap", &ns, [0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(
            records_of(sockscope(&read_args(&[&ns]))),
            want,
            "{name} in nanoseconds"
        );
    }
}

/// The same capture with its Ethernet headers replaced by `link`'s header (`prefix` of the
/// family, for IPv4 and IPv6), written here without any of sockscope's code.
fn relinked(eth: &PcapFile, link: u32, prefix: impl Fn(bool) -> Vec<u8>) -> Vec<u8> {
    let mut out = PcapFile {
        header: eth.header.clone(),
        records: Vec::new(),
    };
    out.header[20..24].copy_from_slice(&link.to_le_bytes());
    for (rec, data) in &eth.records {
        let ipv6 = data.get(12..14) == Some(&[0x86, 0xdd][..]);
        let mut body = prefix(ipv6);
        // ARP and the like stay, as garbage to skip: packet numbers must not change.
        body.extend_from_slice(data.get(14..).unwrap_or_default());
        let mut rec = *rec;
        let len = (body.len() as u32).to_le_bytes();
        rec[8..12].copy_from_slice(&len);
        rec[12..16].copy_from_slice(&len);
        out.records.push((rec, body));
    }
    out.bytes()
}

/// Raw IP under every number the pcap linktype registry (and the platform DLT_RAW values
/// written into files) gives it: LINKTYPE_RAW 101, DLT_RAW 12 (most platforms) and 14
/// (OpenBSD), LINKTYPE_IPV4 228 / LINKTYPE_IPV6 229, and 12 as OpenBSD's DLT_LOOP (a
/// network-order address family). Each gives exactly the records of the Ethernet original.
#[test]
fn raw_ip_link_types_give_the_same_records() {
    for name in ["ws-chat.pcap", "ws-ipv6.pcap"] {
        let file = capture(name);
        let want = records_of(sockscope(&read_args(&[&file])));
        assert!(want.len() > 10, "{name}");
        let eth = PcapFile::read(&file);
        let v6 = name.contains("ipv6");
        let mut cases: Vec<(String, Vec<u8>)> = [12u32, 14, 101]
            .into_iter()
            .map(|link| {
                (
                    format!("link type {link}"),
                    relinked(&eth, link, |_| Vec::new()),
                )
            })
            .collect();
        let family = if v6 { 229 } else { 228 };
        cases.push((
            format!("link type {family}"),
            relinked(&eth, family, |_| Vec::new()),
        ));
        cases.push((
            "link type 12 as OpenBSD DLT_LOOP".into(),
            relinked(&eth, 12, |ipv6| vec![0, 0, 0, if ipv6 { 24 } else { 2 }]),
        ));
        // The ARP frames kept as garbage are skipped for a reason that depends on the link
        // type ("not IP", or "malformed" where the link type promises IPv4): not compared.
        let without_skips = |mut records: Vec<serde_json::Value>| {
            for r in &mut records {
                if let Some(summary) = r.as_object_mut().filter(|o| o["type"] == "summary") {
                    summary.remove("skipped_packets");
                }
            }
            records
        };
        let want = without_skips(want);
        for (what, bytes) in cases {
            let (_d, path) = temp_file("relinked.pcap", &bytes);
            let run = sockscope(&read_args(&[&path]));
            let got = without_skips(records_of(run));
            assert_eq!(got, want, "{name} with {what}");
        }
    }
}

/// A request sent as IPv4 fragments: `keep` says which of its fragments (three of 24, 24
/// and the rest of its TCP bytes) the capture holds; the last fragment is the file's last
/// packet, so the datagram (if whole) completes at the end of the input.
fn fragmented_request(keep: [bool; 3]) -> Vec<u8> {
    let (client, server) = (([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80));
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    let mut c = TcpConn::new(client, server);
    c.handshake(&mut w);
    let request = b"GET /in-pieces HTTP/1.1\r\nHost: x\r\n\r\n";
    let seg = tcp_segment(
        client.1,
        server.1,
        c.seq[C2S],
        c.seq[S2C],
        ACK | PSH,
        request,
    );
    let pieces = [(0, 24), (24, 48), (48, seg.len())];
    for (i, &(start, end)) in pieces.iter().enumerate() {
        let more = if end < seg.len() { 0x2000 } else { 0 };
        let frag = more | (start / 8) as u16;
        if keep[i] {
            w.packet(&eth_ipv4(
                client.0,
                server.0,
                6,
                frag,
                0x4242,
                &seg[start..end],
            ));
        }
    }
    w.bytes().to_vec()
}

/// A datagram completed by the capture's last packet is analyzed, and nothing is reported
/// about fragments; a datagram left incomplete at the end is one `ip.fragment`, said so.
#[test]
fn fragments_are_reported_only_when_a_datagram_is_lost() {
    let (_d, whole) = temp_file("whole.pcap", &fragmented_request([true; 3]));
    let r = read_json(&whole, &[]);
    let targets: Vec<&str> = r
        .http(1, "c2s")
        .iter()
        .filter_map(|h| str_of(h, "target"))
        .collect();
    assert_eq!(targets, ["/in-pieces"]);
    assert!(!r.codes().contains("ip.fragment"), "{:?}", r.codes());

    let (_d, holed) = temp_file("holed.pcap", &fragmented_request([true, false, true]));
    let r = read_json(&holed, &[]);
    let details: Vec<&str> = r
        .of_type("anomaly")
        .filter(|a| str_of(a, "code") == Some("ip.fragment"))
        .filter_map(|a| str_of(a, "detail"))
        .collect();
    assert_eq!(details.len(), 1, "{details:?}");
    assert!(
        details[0].starts_with("1 IP datagram(s) could not be reassembled")
            && details[0].contains("1 incomplete at the end")
            && details[0].contains("2 fragments seen, 0 datagrams reassembled"),
        "{}",
        details[0]
    );
    assert!(r.http(1, "c2s").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Malformed files

/// Runs `read` on a malformed file: exit 2, one stderr line naming the file and `at byte N`.
fn assert_rejected(path: &Path, offset: usize, what: &str) {
    let run = sockscope(&read_args(&[path]));
    assert_eq!(run.code, 2, "{what}: {}", run.stderr);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: one line on stderr: {:?}",
        run.stderr
    );
    let name = path.to_string_lossy();
    assert!(
        lines[0].contains(&*name),
        "{what}: names the file: {}",
        lines[0]
    );
    assert!(
        lines[0].contains(&format!("at byte {offset}:")),
        "{what}: names byte {offset}: {}",
        lines[0]
    );
}

#[test]
fn malformed_files_end_with_status_2_and_the_offset() {
    let chat = std::fs::read(capture("ws-chat.pcap")).expect("capture");
    let records = PcapFile::parse(&chat).records;
    // Offset of record `i` in the file.
    let record_at = |i: usize| {
        24 + records[..i]
            .iter()
            .map(|(_, d)| 16 + d.len())
            .sum::<usize>()
    };

    let (_d1, p) = temp_file("bad-magic.pcap", b"garbage!garbage!garbage!garbage!");
    assert_rejected(&p, 0, "bad magic");

    let (_d2, p) = temp_file("short-header.pcap", &chat[..10]);
    assert_rejected(&p, 0, "truncated file header");

    let (_d3, p) = temp_file("empty.pcap", b"");
    assert_rejected(&p, 0, "empty file");

    // The fifth record's data cut in the middle.
    let cut = record_at(4) + 16 + 5;
    let (_d4, p) = temp_file("short-packet.pcap", &chat[..cut]);
    assert_rejected(&p, record_at(4), "truncated packet");

    // A record header cut in the middle.
    let cut = record_at(7) + 9;
    let (_d5, p) = temp_file("short-record-header.pcap", &chat[..cut]);
    assert_rejected(&p, record_at(7), "truncated record header");

    // The third record claims 2 GB.
    let mut absurd = chat.clone();
    let at = record_at(2);
    absurd[at + 8..at + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let (_d6, p) = temp_file("absurd-caplen.pcap", &absurd);
    assert_rejected(&p, at, "absurd caplen");

    // pcapng: the block after the section header claims a length that is not a multiple of 4.
    let mut ng = Vec::new();
    ng.extend_from_slice(&[0x0a, 0x0d, 0x0d, 0x0a]);
    ng.extend_from_slice(&28u32.to_le_bytes());
    ng.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    ng.extend_from_slice(&1u16.to_le_bytes());
    ng.extend_from_slice(&0u16.to_le_bytes());
    ng.extend_from_slice(&(-1i64).to_le_bytes());
    ng.extend_from_slice(&28u32.to_le_bytes());
    let idb = ng.len();
    ng.extend_from_slice(&1u32.to_le_bytes());
    ng.extend_from_slice(&7u32.to_le_bytes());
    ng.extend_from_slice(&[0; 12]);
    let (_d7, p) = temp_file("bad-block.pcapng", &ng);
    assert_rejected(&p, idb, "bad pcapng block length");

    // A gzip stream that ends early, and one that is not gzip at all after its magic.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&chat).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let (_d8, p) = temp_file("cut.pcap.gz", &gz[..gz.len() / 2]);
    let run = sockscope(&read_args(&[&p]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("cut.pcap.gz") && run.stderr.contains("at byte"),
        "{}",
        run.stderr
    );
}

#[test]
fn malformed_input_on_stdin_and_missing_files_are_reported_not_panicked() {
    let chat = std::fs::read(capture("ws-chat.pcap")).expect("capture");
    let run = sockscope_with_stdin(&["read", "--json", "-"], &chat[..200]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.trim().starts_with("sockscope: -: at byte "),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.trim().lines().count(), 1);

    let run = sockscope(&["read", "--json", "/nonexistent/capture.pcap"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("/nonexistent/capture.pcap"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
}

#[test]
fn random_corruption_never_panics() {
    // Deterministic bit flips and cuts over a real capture: whatever happens, no panic, and a
    // failure is exit status 2 with one message line.
    let chat = std::fs::read(capture("ws-deflate.pcap")).expect("capture");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let dir = tempfile::tempdir().expect("temp dir");
    for i in 0..24 {
        let mut bytes = chat.clone();
        for _ in 0..(1 + next() % 8) {
            let at = (next() as usize) % bytes.len();
            bytes[at] ^= 1 << (next() % 8);
        }
        if i % 3 == 0 {
            bytes.truncate((next() as usize) % bytes.len());
        }
        let path = dir.path().join(format!("corrupt-{i}.pcap"));
        std::fs::write(&path, &bytes).expect("write");
        let run = sockscope(&read_args(&[&path]));
        match run.code {
            0 => {
                run.report();
            }
            2 => assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr),
            other => panic!("exit status {other}: {}", run.stderr),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Port selection

#[test]
fn any_port_finds_the_websocket_on_8080() {
    let file = capture("ws-port8080.pcap");
    let exp = expected("ws-port8080.pcap");
    let r = read_json(&file, &["--any-port"]);
    let flows = r.flows();
    assert_eq!(flows.len(), 1);
    let f = flows[&1];
    assert_eq!(str_of(f, "kind"), Some("websocket"));
    assert_eq!(
        str_of(f, "server"),
        Some(exp.connections[0].server.as_str())
    );
    assert!(str_of(f, "server").is_some_and(|s| s.ends_with(":8080")));
    let h = r.handshake(1).expect("handshake");
    assert_eq!(bool_of(h, "accept_valid"), Some(true));
    let ws = &exp.websocket[0];
    assert_eq!(
        r.of_flow("ws_message", 1).len(),
        ws.client_to_server
            .iter()
            .chain(&ws.server_to_client)
            .filter(|m| m.opcode == "text" || m.opcode == "binary")
            .count()
    );
    assert_eq!(u64_of(r.summary(), "skipped_flows"), Some(0));
    // -p 8080 sees the same.
    let p = read_json(&file, &["-p", "8080"]);
    assert_eq!(p.records.len(), r.records.len());
}

#[test]
fn default_port_skips_8080_and_says_so() {
    let file = capture("ws-port8080.pcap");
    let r = read_json(&file, &[]);
    assert_eq!(r.flows().len(), 0);
    assert_eq!(u64_of(r.summary(), "flows"), Some(0));
    assert_eq!(u64_of(r.summary(), "skipped_flows"), Some(1));

    let text = sockscope(&[
        std::ffi::OsStr::new("read"),
        std::ffi::OsStr::new("--color"),
        std::ffi::OsStr::new("never"),
        file.as_os_str(),
    ]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let out = format!("{}{}", text.stdout, text.stderr);
    let hint = out
        .lines()
        .find(|l| l.contains("skipped"))
        .unwrap_or_else(|| panic!("no skipped-flows hint in:\n{out}"));
    assert!(
        hint.contains('1') && hint.contains("--any-port") && hint.contains("-p"),
        "{hint}"
    );
    // Without skipped flows there is no hint.
    let chat = sockscope(&[
        std::ffi::OsStr::new("read"),
        std::ffi::OsStr::new("--color"),
        std::ffi::OsStr::new("never"),
        capture("ws-chat.pcap").as_os_str(),
    ]);
    assert!(!format!("{}{}", chat.stdout, chat.stderr).contains("skipped"));
}

// ---------------------------------------------------------------------------------------------
// Nothing lost without a word

/// `read --color never` (plus `extra`) on `file`: stdout and stderr together.
fn text_of(file: &Path, extra: &[&str]) -> String {
    let mut args: Vec<&std::ffi::OsStr> = ["read", "--color", "never"]
        .iter()
        .map(std::ffi::OsStr::new)
        .collect();
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    args.push(file.as_os_str());
    let run = sockscope(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    format!("{}{}", run.stdout, run.stderr)
}

/// Flows refused at the flow cap are counted apart from flows skipped by port, and said so.
#[test]
fn flows_refused_by_the_flow_cap_are_counted_and_shown() {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    for i in 0..10u8 {
        let mut c = TcpConn::new(([10, 0, 1, i], 40000), ([10, 0, 0, 80], 80));
        c.handshake(&mut w);
        c.send(&mut w, C2S, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    // Two flows on another port: skipped by port, not refused.
    for i in 0..2u8 {
        let mut c = TcpConn::new(([10, 0, 2, i], 40000), ([10, 0, 0, 80], 8443));
        c.handshake(&mut w);
    }
    let (_d, file) = temp_file("many-flows.pcap", w.bytes());
    let r = read_json(&file, &["--max-flows", "4"]);
    let s = r.summary();
    assert_eq!(u64_of(s, "flows"), Some(4));
    assert_eq!(u64_of(s, "refused_flows"), Some(6));
    assert_eq!(u64_of(s, "refused_flows_by_budget"), Some(0));
    assert_eq!(u64_of(s, "skipped_flows"), Some(2));
    assert_eq!(s["anomalies"]["tcp.flow_cap"].as_u64(), Some(1));
    let text = text_of(&file, &["-q", "--max-flows", "4"]);
    assert!(
        text.lines()
            .any(|l| l.contains("6 TCP flows were not analyzed") && l.contains("--max-flows")),
        "{text}"
    );
    // Under the cap nothing is refused and nothing said.
    let r = read_json(&file, &[]);
    assert_eq!(u64_of(r.summary(), "refused_flows"), Some(0));
    assert!(!text_of(&file, &["-q"]).contains("not analyzed"));
}

/// Flows the memory budget cannot hold are counted with those refused at the flow cap, apart
/// as `refused_flows_by_budget`, and the text note names `--memory`, not `--max-flows`.
#[test]
fn flows_refused_by_the_memory_budget_are_counted_and_shown() {
    // 1 000 flows with one unanswered request each: their state alone outgrows a 1 MiB budget.
    let bytes = hostile::capture(hostile::Shape::Pipelined, 1000, 1);
    let (_d, file) = temp_file("budget-flows.pcap", &bytes);
    let r = read_json(&file, &hostile::SMALL_BUDGET);
    let s = r.summary();
    let refused = u64_of(s, "refused_flows").expect("refused_flows");
    assert!(refused > 0, "{s}");
    assert_eq!(u64_of(s, "refused_flows_by_budget"), Some(refused));
    assert_eq!(u64_of(s, "flows").map(|n| n + refused), Some(1000));
    assert_eq!(s["anomalies"]["tcp.budget_flows"].as_u64(), Some(1));
    let mut args = vec!["-q"];
    args.extend(hostile::SMALL_BUDGET);
    let text = text_of(&file, &args);
    let note = format!("{refused} TCP flows were not analyzed: the memory budget");
    assert!(
        text.lines()
            .any(|l| l.contains(&note) && l.contains("--memory")),
        "{text}"
    );
    assert!(!text.contains("--max-flows to track"), "{text}");
}

/// A pcap whose records are written here one by one: `(seconds, fraction, bytes)`.
fn pcap_with_records(records: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut f = PcapFile {
        header: PcapWriter::new(LINKTYPE_ETHERNET).bytes()[..24].to_vec(),
        records: Vec::new(),
    };
    for (secs, frac, data) in records {
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&secs.to_le_bytes());
        hdr[4..8].copy_from_slice(&frac.to_le_bytes());
        hdr[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        hdr[12..16].copy_from_slice(&(data.len() as u32).to_le_bytes());
        f.records.push((hdr, data.clone()));
    }
    f.bytes()
}

/// Zero-length records, microsecond fields above 999,999 and time running backwards are
/// read as they are, and counted in the summary with a note.
#[test]
fn odd_records_are_counted_in_the_summary() {
    let c = TcpConn::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80));
    let syn = c.raw(C2S, 1000, SYN, b"");
    let t = 1_700_000_000;
    let file = pcap_with_records(&[
        (t, 100, syn.clone()),
        (t, 200, Vec::new()),
        (t, 1_000_500, syn.clone()), // = t + 1 s + 500 µs
        (t + 1, 400, syn.clone()),   // earlier than the record before
        (t + 1, 600, Vec::new()),
    ]);
    let (_d, path) = temp_file("odd.pcap", &file);
    let r = read_json(&path, &[]);
    let s = r.summary();
    assert_eq!(u64_of(s, "packets"), Some(5));
    let notes = &s["record_notes"];
    assert_eq!(notes["zero_length"].as_u64(), Some(2));
    assert_eq!(notes["fraction_overflow"].as_u64(), Some(1));
    assert_eq!(notes["backwards"].as_u64(), Some(1));
    // The overflowing fraction is carried into the seconds, as libpcap does.
    let last = s["last_ts"].as_f64().expect("last_ts");
    assert!((last - (f64::from(t) + 1.0006)).abs() < 1e-6, "{last}");
    let text = text_of(&path, &["-q"]);
    for want in [
        "2 records with no captured bytes",
        "1 record with a timestamp fraction of a whole second or more",
        "1 record timestamped earlier than the record before",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    // A clean capture says none of it.
    let r = read_json(&capture("ws-chat.pcap"), &[]);
    let notes = &r.summary()["record_notes"];
    for key in ["zero_length", "fraction_overflow", "backwards"] {
        assert_eq!(notes[key].as_u64(), Some(0), "{key}");
    }
    assert!(!text_of(&capture("ws-chat.pcap"), &["-q"]).contains("note:"));
}

/// One TCP packet of `conn` in direction `dir` with its headers edited by `edit` (IP header
/// from byte 14, TCP header from byte 34).
fn edited(conn: &TcpConn, dir: usize, edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut p = conn.raw(dir, conn.seq[dir], ACK | PSH, b"GET / HTTP/1.1\r\n\r\n");
    edit(&mut p);
    p
}

/// Packets with broken IP or TCP headers on the analyzed ports are reported, each with its
/// fault; on other ports only broken IP headers are (their ports cannot be read).
#[test]
fn broken_headers_on_analyzed_ports_are_reported() {
    let web = TcpConn::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80));
    let tls = TcpConn::new(([10, 0, 0, 1], 40001), ([10, 0, 0, 2], 8443));
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    for conn in [&web, &tls] {
        // TCP data offset 3 words.
        w.packet(&edited(conn, C2S, |p| p[46] = 0x30));
        // TCP header (20 bytes) longer than the IP payload (IP total length 20 + 12).
        w.packet(&edited(conn, C2S, |p| {
            p[16..18].copy_from_slice(&32u16.to_be_bytes());
            p.truncate(14 + 32);
        }));
        // Cut by the capture inside the TCP header, before the flags.
        w.packet(&edited(conn, C2S, |p| p.truncate(14 + 20 + 10)));
    }
    // IHL 4: the ports cannot be read, so it is reported whatever they are.
    w.packet(&edited(&tls, C2S, |p| p[14] = 0x44));
    let (_d, file) = temp_file("broken.pcap", w.bytes());

    let faults = |r: &Report| -> Vec<(String, String)> {
        r.of_type("anomaly")
            .map(|a| {
                (
                    str_of(a, "code").unwrap_or_default().to_owned(),
                    str_of(a, "detail").unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let r = read_json(&file, &[]);
    let got = faults(&r);
    let want = [
        (
            "tcp.bad_header",
            "10.0.0.1:40000 -> 10.0.0.2:80: TCP data offset 12 bytes (3 words), below the 20-byte minimum; packet skipped",
        ),
        (
            "tcp.bad_header",
            "10.0.0.1:40000 -> 10.0.0.2:80: TCP header of 20 bytes is longer than the 12-byte IP payload that carries it; packet skipped",
        ),
        (
            "tcp.bad_header",
            "10.0.0.1:40000 -> 10.0.0.2:80: TCP header cut short by the capture before its flags (10 of at least 14 bytes); packet skipped",
        ),
        (
            "ip.bad_header",
            "10.0.0.1 -> 10.0.0.2: IPv4 header length 16 bytes (IHL 4), below the 20-byte minimum; packet skipped",
        ),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(c, d)| (c.to_string(), d.to_string()))
        .collect();
    assert_eq!(got, want);
    assert!(r.of_type("anomaly").all(|a| a["flow"].is_null()));
    assert_eq!(
        r.summary()["skipped_packets"]["broken IP/TCP header"].as_u64(),
        Some(7)
    );
    // With every port analyzed, the port-8443 ones are reported too.
    let all = read_json(&file, &["--any-port"]);
    let codes: Vec<String> = faults(&all).into_iter().map(|(c, _)| c).collect();
    assert_eq!(codes.iter().filter(|c| *c == "tcp.bad_header").count(), 6);
    assert_eq!(codes.iter().filter(|c| *c == "ip.bad_header").count(), 1);
    // The text report shows them.
    let text = text_of(&file, &["-q"]);
    assert!(
        text.contains("tcp.bad_header") && text.contains("ip.bad_header"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Retransmitted SYNs

/// The capture starts at the server's SYN-ACK (the SYN was missed); after the exchange and the
/// close, a stray copy of that SYN arrives (as in arkime's tcp-reassembly-synthetic capture).
fn stray_syn_capture() -> Vec<u8> {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    let mut c = TcpConn::new(([10, 0, 0, 1], 40009), ([10, 0, 0, 2], 80));
    let isn = c.seq[C2S];
    c.seq[C2S] = isn + 1;
    w.packet(&c.raw(S2C, c.seq[S2C], SYN | ACK, b""));
    c.seq[S2C] += 1;
    w.packet(&c.raw(C2S, c.seq[C2S], ACK, b""));
    c.send(&mut w, C2S, b"GET /tcp-reuse HTTP/1.0\r\n\r\n");
    c.send(
        &mut w,
        S2C,
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    );
    c.fin(&mut w);
    w.packet(&c.raw(C2S, isn, SYN, b""));
    w.bytes().to_vec()
}

/// The stray SYN's ISN is known from the SYN-ACK: it belongs to the closed connection and
/// starts no new, empty flow.
#[test]
fn a_stray_syn_after_the_close_is_the_old_connections() {
    let (_d, file) = temp_file("stray-syn.pcap", &stray_syn_capture());
    let r = read_json(&file, &[]);
    let flows = r.flows();
    assert_eq!(flows.len(), 1, "{:?}", r.records);
    assert_eq!(u64_of(flows[&1], "packets"), Some(8));
    assert_eq!(str_of(flows[&1], "kind"), Some("http"));
    assert_eq!(str_of(flows[&1], "closed"), Some("fin"));
}

/// Packets of no flow are counted in the summary, never dropped unsaid: a RST of a connection
/// never seen, and the last ACK of a closed connection sent again after its linger (the tuple
/// is then a tombstone: the ACK starts no flow).
#[test]
fn packets_of_no_flow_are_counted_and_said() {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    let gone = TcpConn::new(([10, 0, 0, 3], 40100), ([10, 0, 0, 2], 80));
    w.packet(&gone.raw(S2C, gone.seq[S2C], RST | ACK, b""));
    let mut c = TcpConn::new(CLIENT, SERVER);
    http_exchange(
        &mut w,
        &mut c,
        b"GET / HTTP/1.0\r\n\r\n",
        b"HTTP/1.0 204 OK\r\n\r\n",
    );
    w.wait(6_000_000);
    w.packet(&c.raw(C2S, c.seq[C2S], ACK, b""));
    let (_d, file) = temp_file("strays.pcap", w.bytes());
    let r = read_json(&file, &[]);
    assert_eq!(r.flows().len(), 1, "{:?}", r.records);
    assert_eq!(u64_of(r.summary(), "stray_packets"), Some(2));
    let text = sockscope(&["read", "-q", file.to_str().expect("path")]);
    let all = format!("{}{}", text.stdout, text.stderr);
    assert!(all.contains("2 TCP packets belonged to no flow"), "{all}");
}

/// tshark puts the stray SYN in the same conversation, with the same packet count.
#[test]
fn a_stray_syn_after_the_close_is_in_tsharks_conversation_too() {
    require_tshark!();
    let (_d, file) = temp_file("stray-syn.pcap", &stray_syn_capture());
    let out = Command::new("tshark")
        .args(["-n", "-q", "-z", "conv,tcp", "-r"])
        .arg(&file)
        .output()
        .expect("tshark");
    let table = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("<->")).collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert_eq!(rows[0].split_whitespace().nth(9), Some("8"), "{table}");
}
