//! The TLS record layer over the recorded TLS captures (`captures/tls/`), through a small
//! harness (source → decode → TCP reassembly → `TlsConn`), against two independent witnesses:
//! tshark with the same key log (the decrypted bytes of every flow, per direction, must be
//! byte-identical to `tshark -z follow,tls,raw`) and the peers' own logs in
//! `captures/expected/tls/` (version, suite, SNI, ALPN, which sessions decrypt, anomalies).

mod common;

use common::require_tshark;
use sockscope::config::{Config, PortFilter};
use sockscope::decode::{Decoded, Decoder};
use sockscope::proto::tls::suite;
use sockscope::proto::tls::wire::{Sniff, sniff};
use sockscope::proto::tls::{Epoch, KeyLog, SessionSecrets, TlsCode, TlsConn, TlsEvent, TlsSink};
use sockscope::source::{self, Next, Secrets};
use sockscope::tcp::FlowTable;
use sockscope::tcp::{Dir, FlowMeta, PacketRef, StreamEvent, StreamHandler};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// What the TLS layer reported for one flow.
#[derive(Default, Debug)]
struct FlowOut {
    client: String,
    /// The first bytes each side sent (up to 16).
    first: [Vec<u8>; 2],
    plain: [Vec<u8>; 2],
    version: Option<u16>,
    suite: Option<u16>,
    sni: Option<String>,
    alpn: Option<String>,
    etm: bool,
    records: [u64; 2],
    decrypted: [u64; 2],
    key_updates: [u32; 2],
    /// Alerts each side sent: (level, description).
    alerts: [Vec<(u8, u8)>; 2],
    anomalies: Vec<TlsCode>,
}

struct FlowSink<'a> {
    keys: &'a KeyLog,
    out: &'a mut FlowOut,
}

impl TlsSink for FlowSink<'_> {
    fn event(&mut self, dir: Dir, event: TlsEvent<'_>) {
        let d = dir.index();
        let out = &mut *self.out;
        match event {
            TlsEvent::Plaintext(p) => out.plain[d].extend_from_slice(p),
            TlsEvent::Record(r) => {
                out.records[d] += 1;
                out.decrypted[d] += u64::from(r.decrypted);
            }
            TlsEvent::ClientHello(ch) => {
                out.sni = ch.sni.map(|s| String::from_utf8_lossy(s).into_owned())
            }
            TlsEvent::Negotiated(n) => {
                out.version = Some(n.version);
                out.suite = Some(n.cipher_suite);
                out.etm = n.encrypt_then_mac;
                if let Some(a) = n.alpn {
                    out.alpn = Some(String::from_utf8_lossy(a).into_owned());
                }
            }
            TlsEvent::AlpnSelected(a) => out.alpn = Some(String::from_utf8_lossy(a).into_owned()),
            TlsEvent::Epoch(Epoch::Application { generation }) if generation > 0 => {
                out.key_updates[d] += 1
            }
            TlsEvent::Anomaly { code, .. } => out.anomalies.push(code),
            TlsEvent::Alert {
                level, description, ..
            } => out.alerts[d].push((level, description)),
            _ => {}
        }
    }
    fn secrets(&mut self, client_random: &[u8; 32]) -> Option<SessionSecrets> {
        self.keys.get(client_random).copied()
    }
}

#[derive(Default)]
struct Harness {
    keys: KeyLog,
    flows: BTreeMap<u64, FlowOut>,
}

impl StreamHandler for Harness {
    type State = TlsConn;
    sockscope::closed_flows_keep_their_state!(TlsConn);

    fn on_event(
        &mut self,
        meta: &FlowMeta,
        conn: &mut TlsConn,
        _pkt: Option<PacketRef>,
        event: StreamEvent<'_>,
    ) {
        let out = self.flows.entry(meta.id).or_default();
        out.client = meta.client.to_string();
        let mut sink = FlowSink {
            keys: &self.keys,
            out,
        };
        match event {
            StreamEvent::Data { dir, bytes } => {
                let first = &mut sink.out.first[dir.index()];
                let n = (16 - first.len()).min(bytes.len());
                first.extend_from_slice(&bytes[..n]);
                conn.feed(dir, bytes, &mut sink)
            }
            StreamEvent::Gap { dir, len } => conn.gap(dir, len, &mut sink),
            StreamEvent::End { dir } => conn.end(dir, &mut sink),
            StreamEvent::Closed { .. } => conn.finish(&mut sink),
            _ => {}
        }
    }
}

/// Runs the harness over a capture, with its key log file if it has one (secrets carried in
/// the capture are read as the source hands them out).
fn analyze(capture: &Path, keylog: Option<&Path>) -> BTreeMap<u64, FlowOut> {
    analyze_ports(capture, keylog, PortFilter::Ports(vec![443]))
}

fn analyze_ports(
    capture: &Path,
    keylog: Option<&Path>,
    ports: PortFilter,
) -> BTreeMap<u64, FlowOut> {
    let mut harness = Harness::default();
    if let Some(k) = keylog {
        harness.keys = KeyLog::read_file(k).expect("key log");
    }
    let config = Config {
        ports,
        ..Config::default()
    };
    let mut table: FlowTable<Harness> = FlowTable::new(&config, None);
    let mut decoder = Decoder::new();
    let mut src = source::open(capture.to_str().expect("path"), 1).expect("capture opens");
    loop {
        match src.next().expect("capture reads") {
            Next::Frame(frame) => {
                if let Decoded::Tcp(seg) = decoder.decode(&frame) {
                    table.process(&seg, &mut harness);
                }
            }
            Next::Secrets(Secrets { kind, data }) if kind == Secrets::TLS_KEY_LOG => {
                harness.keys.add_text(data)
            }
            Next::End => break,
            _ => {}
        }
    }
    table.finish(&mut harness);
    harness.flows
}

/// tshark's output on `capture` with the key log (its DSB's secrets otherwise) and TCP
/// reassembly of out-of-order segments, as sockscope reads them.
fn tshark(capture: &Path, keylog: Option<&Path>, args: &[&str]) -> String {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(capture)
        .args(["-o", "tcp.reassemble_out_of_order:TRUE"]);
    if let Some(k) = keylog {
        cmd.arg("-o")
            .arg(format!("tls.keylog_file:{}", k.display()));
    }
    let out = cmd.args(args).output().expect("tshark runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// tshark's decrypted bytes of each TCP stream, by client endpoint: (client → server,
/// server → client).
fn tshark_follow(capture: &Path, keylog: Option<&Path>) -> BTreeMap<String, [Vec<u8>; 2]> {
    let run = |args: &[&str]| tshark(capture, keylog, args);
    // Each stream's client: the sender of its SYN.
    let syns = run(&[
        "-Y",
        "tcp.flags.syn == 1 && tcp.flags.ack == 0",
        "-T",
        "fields",
        "-e",
        "tcp.stream",
        "-e",
        "ip.src",
        "-e",
        "tcp.srcport",
    ]);
    let mut out = BTreeMap::new();
    for line in syns.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [id, ip, port] = f[..] else { continue };
        let client = format!("{ip}:{port}");
        let text = run(&["-q", "-z", &format!("follow,tls,raw,{id}")]);
        // Node 0 is whoever sent the first decrypted bytes; untabbed lines are its data.
        let mut node0_is_client = true;
        let mut bytes = [Vec::new(), Vec::new()];
        for line in text.lines() {
            if let Some(node) = line.strip_prefix("Node 0: ") {
                node0_is_client = node == client;
            } else if line.starts_with(['=', 'F', 'N']) || line.is_empty() {
                continue;
            } else {
                let (tabbed, hex) = match line.strip_prefix('\t') {
                    Some(h) => (true, h),
                    None => (false, line),
                };
                let d = usize::from(tabbed == node0_is_client);
                for i in (0..hex.len() / 2 * 2).step_by(2) {
                    bytes[d].push(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"));
                }
            }
        }
        out.insert(client, bytes);
    }
    out
}

fn expected(name: &str) -> serde_json::Value {
    let path = common::captures()
        .join("expected/tls")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("expected file")).expect("json")
}

fn version_name(v: u16) -> &'static str {
    match v {
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => "other",
    }
}

/// Checks one capture against tshark and the peers; returns the harness output for more.
fn compare(name: &str) -> BTreeMap<u64, FlowOut> {
    let exp = expected(name);
    let capture = common::captures().join(exp["capture"].as_str().expect("capture"));
    let keylog = exp["keylog"].as_str().map(|k| common::captures().join(k));
    let flows = analyze(&capture, keylog.as_deref());
    // The DSB capture: tshark reads the secrets from the file too.
    let oracle = tshark_follow(&capture, keylog.as_deref());
    // Clients whose session tshark decrypts and sockscope does not (a suite it does not
    // implement): it must count their records and deliver nothing.
    let undecrypted = not_decrypted_by_sockscope(&exp);
    let mut decrypted_flows = 0;
    for flow in flows.values() {
        let Some(theirs) = oracle.get(&flow.client) else {
            panic!("{name}: tshark has no stream from {}", flow.client);
        };
        if undecrypted.iter().any(|c| same_client(&flow.client, c)) {
            assert!(
                flow.plain.iter().all(Vec::is_empty) && flow.decrypted == [0, 0],
                "{name} {}: decrypted {:?} records",
                flow.client,
                flow.decrypted
            );
            assert!(
                theirs.iter().any(|t| !t.is_empty()),
                "{name} {}: tshark decrypts nothing with the key log",
                flow.client
            );
            assert!(
                flow.records.iter().all(|&r| r > 0),
                "{name}: records counted"
            );
            continue;
        }
        for (d, (ours, theirs)) in flow.plain.iter().zip(theirs).enumerate() {
            assert!(
                ours == theirs,
                "{name} {} dir {d}: {} bytes decrypted, tshark {} (first difference at {:?})",
                flow.client,
                ours.len(),
                theirs.len(),
                ours.iter().zip(theirs).position(|(a, b)| a != b)
            );
        }
        // A session that ended in its handshake delivers no plaintext: its decrypted records
        // (the handshake's end, an alert) say that the key log opens it.
        decrypted_flows += usize::from(flow.decrypted.iter().any(|&n| n > 0));
    }
    // The peers: every TLS session they reported, with the same facts.
    for t in exp["tls"].as_array().expect("tls") {
        let id = t["flow"].as_u64().expect("flow");
        let conn = exp["connections"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"].as_u64() == Some(id)))
            .expect("connection");
        let client = conn["client"].as_str().expect("client");
        let flow = flows
            .values()
            .find(|f| f.client == client || f.client.split(':').next() == Some(client))
            .unwrap_or_else(|| panic!("{name}: no flow from {client}"));
        let suite_name = flow.suite.and_then(suite::name);
        assert_eq!(suite_name, t["cipher_suite"].as_str(), "{name} flow {id}");
        assert_eq!(
            flow.version.map(version_name),
            t["version"].as_str(),
            "{name} flow {id}"
        );
        assert_eq!(flow.sni.as_deref(), t["sni"].as_str(), "{name} flow {id}");
        if let Some(alpn) = t["alpn"].as_str() {
            assert_eq!(flow.alpn.as_deref(), Some(alpn), "{name} flow {id}");
        }
        let decryptable = t["decryptable"].as_bool().expect("decryptable")
            && t["sockscope_decrypts"].as_bool() != Some(false);
        // A client that gave up in the handshake protected nothing: the server's records
        // tell.
        assert_eq!(
            flow.decrypted.iter().any(|&n| n > 0),
            decryptable,
            "{name} flow {id}: records decrypted {:?} of {:?}",
            flow.decrypted,
            flow.records
        );
    }
    if undecrypted.is_empty() {
        assert!(decrypted_flows > 0, "{name}: nothing decrypted");
    }
    // The alerts the peers said they sent, in the order each side sent them.
    if let Some(alerts) = exp["alerts"].as_array() {
        for (d, dir) in ["c2s", "s2c"].into_iter().enumerate() {
            let want: Vec<(u8, u8)> = alerts
                .iter()
                .filter(|a| a["dir"] == dir)
                .map(|a| {
                    let n = |k: &str| a[k].as_u64().and_then(|v| u8::try_from(v).ok());
                    (n("level").expect("level"), n("description").expect("desc"))
                })
                .collect();
            let got: Vec<(u8, u8)> = flows.values().flat_map(|f| f.alerts[d].clone()).collect();
            assert_eq!(got, want, "{name}: {dir} alerts");
        }
    }
    // Anomalies: exactly the ones the recording expects, nothing else.
    let mut want: Vec<&str> = exp["anomalies"]
        .as_array()
        .expect("anomalies")
        .iter()
        .filter_map(|a| a.as_str())
        .filter(|a| a.starts_with("tls."))
        .collect();
    want.sort_unstable();
    // A browser's spare connections, which the peers never used, may stop mid-handshake
    // before the browser logged their secrets: what they report is not the recording's.
    let used: Vec<&str> = exp["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter(|c| {
            exp["tls"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["flow"] == c["id"]))
        })
        .filter_map(|c| c["client"].as_str())
        .collect();
    let mut got: Vec<&str> = flows
        .values()
        .filter(|f| {
            used.iter()
                .any(|u| f.client == *u || f.client.split(':').next() == Some(u))
        })
        .flat_map(|f| f.anomalies.iter().map(|c| c.as_str()))
        .collect();
    got.sort_unstable();
    got.dedup();
    assert_eq!(got, want, "{name}: anomalies");
    binary_matches_tshark(name, &capture, keylog.as_deref(), &oracle, &undecrypted);
    flows
}

/// The clients of the sessions the expected file says tshark decrypts and sockscope does not.
fn not_decrypted_by_sockscope(exp: &serde_json::Value) -> Vec<String> {
    let Some(tls) = exp["tls"].as_array() else {
        return Vec::new();
    };
    tls.iter()
        .filter(|t| t["sockscope_decrypts"].as_bool() == Some(false))
        .filter_map(|t| {
            exp["connections"]
                .as_array()?
                .iter()
                .find(|c| c["id"] == t["flow"])?["client"]
                .as_str()
                .map(String::from)
        })
        .collect()
}

/// Is `endpoint` the client named `client` (an endpoint, or only an address when the peer
/// could not choose its port)?
fn same_client(endpoint: &str, client: &str) -> bool {
    endpoint == client || endpoint.split(':').next() == Some(client)
}

/// Per TCP stream, by client endpoint: tshark's HTTP/1.x messages and WebSocket frames
/// dissected inside TLS with the same secrets.
fn tshark_pdus(capture: &Path, keylog: Option<&Path>) -> BTreeMap<String, (u64, u64)> {
    let text = tshark(
        capture,
        keylog,
        &[
            "-T",
            "fields",
            "-E",
            "separator=/t",
            "-e",
            "tcp.stream",
            "-e",
            "ip.src",
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.flags.syn",
            "-e",
            "tcp.flags.ack",
            "-e",
            "http.request.method",
            "-e",
            "http.response.code",
            "-e",
            "websocket.opcode",
        ],
    );
    let mut clients = BTreeMap::new();
    let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let n = |f: &str| f.split(',').filter(|v| !v.is_empty()).count() as u64;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [stream, ip, port, syn, ack, method, code, opcode] = f[..] else {
            continue;
        };
        if syn == "1" && ack == "0" {
            clients.insert(stream.to_string(), format!("{ip}:{port}"));
        }
        let c = counts.entry(stream.to_string()).or_default();
        c.0 += n(method) + n(code);
        c.1 += n(opcode);
    }
    counts
        .into_iter()
        .filter_map(|(stream, c)| clients.get(&stream).map(|client| (client.clone(), c)))
        .collect()
}

/// The binary end to end (`read --json`, the TLS dissector and what it feeds) against tshark:
/// per flow, the decrypted bytes of each direction, the HTTP messages and the WebSocket
/// frames.
fn binary_matches_tshark(
    name: &str,
    capture: &Path,
    keylog: Option<&Path>,
    oracle: &BTreeMap<String, [Vec<u8>; 2]>,
    undecrypted: &[String],
) {
    let mut extra: Vec<String> = Vec::new();
    if let Some(k) = keylog {
        extra.push("--keylog".into());
        extra.push(k.display().to_string());
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let report = common::read_json(capture, &extra);
    let pdus = tshark_pdus(capture, keylog);
    let mut flows = 0;
    for f in report.records.iter().filter(|r| r["type"] == "flow") {
        let client = f["client"].as_str().expect("client").to_string();
        let Some(theirs) = oracle.get(&client) else {
            continue;
        };
        flows += 1;
        let tls = &f["tls"];
        assert!(tls.is_object(), "{name} {client}: no tls object: {f}");
        if undecrypted.iter().any(|c| same_client(&client, c)) {
            assert_eq!(tls["decrypted"], false, "{name} {client}: {f}");
            assert_eq!(
                tls["plaintext_bytes"],
                serde_json::json!([0, 0]),
                "{name} {client}"
            );
            continue;
        }
        for (d, theirs) in theirs.iter().enumerate() {
            assert_eq!(
                tls["plaintext_bytes"][d].as_u64(),
                Some(theirs.len() as u64),
                "{name} {client} dir {d}: decrypted bytes, tshark's follow"
            );
        }
        let (http, frames) = pdus.get(&client).copied().unwrap_or_default();
        assert_eq!(
            f["http_messages"].as_u64(),
            Some(http),
            "{name} {client}: HTTP messages, tshark's"
        );
        assert_eq!(
            f["ws_frames"].as_u64(),
            Some(frames),
            "{name} {client}: WebSocket frames, tshark's"
        );
        if tls["alpn"] == "h2" {
            assert_eq!(f["kind"], "http2", "{name} {client}");
        }
    }
    assert!(flows > 0, "{name}: no flow compared");
}

macro_rules! captures {
    ($($test:ident: $name:literal;)*) => {
        $(
            #[test]
            fn $test() {
                require_tshark!();
                compare($name);
            }
        )*

        /// Every recorded TLS capture is compared here.
        #[test]
        fn every_tls_capture_is_compared() {
            let listed: std::collections::BTreeSet<String> =
                [$($name),*].into_iter().map(String::from).collect();
            let dir = common::captures().join("expected/tls");
            let found: std::collections::BTreeSet<String> = std::fs::read_dir(dir)
                .expect("expected/tls")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .map(|p| p.file_stem().expect("stem").to_string_lossy().into_owned())
                .collect();
            assert_eq!(listed, found);
        }
    };
}

captures! {
    wss_tls13_aes128: "wss-tls13-aes128";
    wss_tls13_aes256: "wss-tls13-aes256";
    wss_tls13_chacha20: "wss-tls13-chacha20";
    wss_tls12_ecdhe_gcm: "wss-tls12-ecdhe-gcm";
    wss_tls12_ecdhe_chacha20: "wss-tls12-ecdhe-chacha20";
    wss_tls12_cbc_etm: "wss-tls12-cbc-etm";
    wss_tls12_cbc_noetm: "wss-tls12-cbc-noetm";
    https_keepalive: "https-keepalive";
    https_h2: "https-h2";
    chromium_wss: "chromium-wss";
    tls13_keyupdate: "tls13-keyupdate";
    tls_missing_session: "tls-missing-session";
    tls_wrong_key: "tls-wrong-key";
    wss_dsb: "wss-dsb";
    tls13_ccm: "tls13-ccm";
    tls13_unknown_ca: "tls13-unknown-ca";
    tls12_renegotiation_refused: "tls12-renegotiation-refused";
    tls11_unsupported_version: "tls11-unsupported-version";
    tls12_record_too_large: "tls12-record-too-large";
    tls13_data_after_close_notify: "tls13-data-after-close-notify";
}

/// The crafted captures (`tests/common/tls_crafted.rs`) are exactly what their generator
/// writes: anyone can rebuild them, and a change to the builders that would change them shows
/// here. `SOCKSCOPE_WRITE_CRAFTED=1` writes them instead (never in CI).
#[test]
fn crafted_captures_are_what_their_generator_writes() {
    let write =
        std::env::var_os("SOCKSCOPE_WRITE_CRAFTED").is_some_and(|v| !v.is_empty() && v != "0");
    assert!(
        !(write && common::skipping_forbidden()),
        "SOCKSCOPE_WRITE_CRAFTED in CI"
    );
    let root = common::captures();
    for c in common::tls_crafted::all() {
        let files = [
            (root.join(format!("tls/{}.pcap", c.name)), c.pcap),
            (
                root.join(format!("tls/{}.keys", c.name)),
                c.keys.into_bytes(),
            ),
            (
                root.join(format!("expected/tls/{}.json", c.name)),
                c.expected.into_bytes(),
            ),
        ];
        for (path, bytes) in files {
            if write {
                std::fs::write(&path, &bytes).expect("write");
            } else {
                let committed = std::fs::read(&path).unwrap_or_default();
                assert!(
                    committed == bytes,
                    "{} differs from what tests/common/tls_crafted.rs writes \
                     (SOCKSCOPE_WRITE_CRAFTED=1 rewrites it)",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn cbc_captures_negotiated_what_they_say() {
    require_tshark!();
    let etm = compare("wss-tls12-cbc-etm");
    assert!(etm.values().all(|f| f.etm));
    let mte = compare("wss-tls12-cbc-noetm");
    assert!(mte.values().all(|f| !f.etm));
}

#[test]
fn key_updates_are_followed() {
    require_tshark!();
    let flows = compare("tls13-keyupdate");
    let flow = flows.values().next().expect("flow");
    // Two from the client ("k", then "K"); the server sent no data, so it never updated.
    assert_eq!(flow.key_updates, [2, 0]);
    let text = String::from_utf8_lossy(&flow.plain[0]);
    assert!(text.contains("after the second"), "{text}");
}

#[test]
fn h2_is_delivered_as_plaintext() {
    require_tshark!();
    let flows = compare("https-h2");
    let flow = flows.values().next().expect("flow");
    assert_eq!(flow.alpn.as_deref(), Some("h2"));
    assert!(flow.plain[0].starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
}

#[test]
fn without_keys_the_handshake_facts_remain() {
    let capture = common::captures().join("tls/wss-tls12-ecdhe-gcm.pcap");
    let flows = analyze(&capture, None);
    let flow = flows.values().next().expect("flow");
    assert_eq!(flow.version, Some(0x0303));
    assert_eq!(flow.suite, Some(0xc02f));
    assert_eq!(flow.sni.as_deref(), Some("sockscope.test"));
    assert!(flow.plain.iter().all(Vec::is_empty));
    assert!(flow.records[0] > 5 && flow.records[1] > 5);
    assert_eq!(flow.anomalies, [TlsCode::TlsMissingSecrets]);
}

/// The detector's view: every TLS flow starts with a ClientHello; no flow of the plain bundled
/// captures looks like TLS, except the one where curl really sent a ClientHello to port 80.
#[test]
fn sniffing_tells_tls_from_the_rest() {
    let tls_dir = common::captures().join("tls");
    let mut tls_flows = 0;
    for entry in std::fs::read_dir(&tls_dir).expect("captures/tls") {
        let path = entry.expect("entry").path();
        if !path
            .extension()
            .is_some_and(|e| e == "pcap" || e == "pcapng")
        {
            continue;
        }
        for flow in analyze(&path, None).values() {
            if flow.first[0].is_empty() {
                continue; // a spare browser connection that never sent a byte
            }
            assert_eq!(
                sniff(&flow.first[0]),
                Sniff::ClientHello,
                "{}",
                path.display()
            );
            assert_eq!(
                sniff(&flow.first[1]),
                Sniff::ServerHello,
                "{}",
                path.display()
            );
            tls_flows += 1;
        }
    }
    assert!(tls_flows >= 15, "{tls_flows}");
    let mut plain_sides = 0;
    for sub in ["", "bad"] {
        let dir = common::captures().join(sub);
        for entry in std::fs::read_dir(&dir).expect("captures") {
            let path = entry.expect("entry").path();
            if !path
                .extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng")
            {
                continue;
            }
            let is_tls = path.ends_with("bad/http-parse-error.pcap");
            for flow in analyze_ports(&path, None, PortFilter::Any).values() {
                for first in flow.first.iter().filter(|f| f.len() >= 6) {
                    let verdict = sniff(first);
                    let tls = matches!(verdict, Sniff::ClientHello | Sniff::ServerHello);
                    assert_eq!(tls, is_tls && flow.first[0] == *first, "{}", path.display());
                    plain_sides += 1;
                }
            }
        }
    }
    assert!(plain_sides > 50, "{plain_sides}");
}

/// `sockscope check` gates the TLS captures as it does the others, given their key logs: every
/// capture passes with the number of flows its recording logged, except those whose expected
/// anomalies include errors (a wrong key, a fatal alert, a crafted violation), which fail on
/// exactly those.
#[test]
fn check_gates_the_tls_captures_with_their_key_logs() {
    let dir = common::captures().join("tls");
    let mut keys = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("captures/tls")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    for p in names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "keys"))
    {
        keys.extend(std::fs::read(p).expect("key log"));
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let all = tmp.path().join("all.keys");
    std::fs::write(&all, &keys).expect("write");
    let run = common::sockscope(&[
        "check".as_ref(),
        "--json".as_ref(),
        "--keylog".as_ref(),
        all.as_os_str(),
        dir.as_os_str(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mut seen = 0;
    for line in run.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        if v["type"] != "check" {
            continue;
        }
        seen += 1;
        let file = v["file"].as_str().expect("file");
        let name = Path::new(file)
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let exp = expected(&name);
        assert_eq!(v["flows"], exp["flows"], "{name}: flows");
        let errors: Vec<&String> = v["anomalies"]
            .as_object()
            .expect("anomalies")
            .keys()
            .filter(|c| {
                sockscope::model::Code::parse(c)
                    .is_some_and(|c| c.severity() == sockscope::model::Severity::Error)
            })
            .collect();
        let want: Vec<&str> = exp["anomalies"]
            .as_array()
            .expect("anomalies")
            .iter()
            .filter_map(|a| a.as_str())
            .filter(|c| {
                sockscope::model::Code::parse(c)
                    .is_some_and(|c| c.severity() == sockscope::model::Severity::Error)
            })
            .collect();
        assert_eq!(errors, want, "{name}: {line}");
        assert_eq!(v["pass"], want.is_empty(), "{line}");
    }
    let expected = std::fs::read_dir(common::captures().join("expected/tls"))
        .expect("expected/tls")
        .count();
    assert_eq!(seen, expected);
}
