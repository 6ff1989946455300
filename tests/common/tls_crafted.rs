//! The crafted TLS captures of `captures/tls/` (captures/README.md): sessions no real peer
//! produces on purpose, built with the record layer's test kit (known secrets, real record
//! protection) and this directory's pcap builders, with their key logs and expected files.
//! Deterministic: `tests/tls_captures.rs` checks that the committed files are what this
//! writes, and rewrites them with `SOCKSCOPE_WRITE_CRAFTED=1`.

use super::{C2S, LINKTYPE_ETHERNET, PcapWriter, S2C, TcpConn};
use serde_json::json;
use sockscope::proto::tls::testkit::Synth;
use sockscope::tcp::Dir;

/// One crafted capture: its name in `captures/tls/` and the bytes of its three files.
pub struct Crafted {
    pub name: &'static str,
    pub pcap: Vec<u8>,
    pub keys: String,
    pub expected: String,
}

const CLIENT: ([u8; 4], u16) = ([192, 0, 2, 1], 41000);
const SERVER: ([u8; 4], u16) = ([192, 0, 2, 80], 443);
const TLS_AES_128_GCM_SHA256: u16 = 0x1301;
const TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: u16 = 0xc02f;
const ALERT_WARNING: u8 = 1;
const CLOSE_NOTIFY: u8 = 0;

/// What a session sent after its handshake: (side, bytes) in order.
type Steps = Vec<(usize, Vec<u8>)>;

fn session(synth: &Synth, then: Steps) -> Vec<u8> {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    let mut c = TcpConn::new(CLIENT, SERVER);
    c.handshake(&mut w);
    for (dir, bytes) in synth.handshake() {
        c.send(&mut w, dir.index(), &bytes);
    }
    for (dir, bytes) in then {
        c.send(&mut w, dir, &bytes);
    }
    c.fin(&mut w);
    w.bytes().to_vec()
}

/// Each side's application records, numbered from the first after the handshake.
struct Records<'a> {
    synth: &'a Synth,
    seq: [u64; 2],
}

impl Records<'_> {
    fn new(synth: &Synth) -> Records<'_> {
        let first = synth.first_app_seq();
        Records {
            synth,
            seq: [first, first],
        }
    }
    fn data(&mut self, dir: Dir, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.synth
            .app_record(dir, self.seq[dir.index()], plaintext, &mut out);
        self.seq[dir.index()] += 1;
        out
    }
    fn close_notify(&mut self, dir: Dir) -> Vec<u8> {
        let mut out = Vec::new();
        let seq = self.seq[dir.index()];
        self.synth
            .alert_record(dir, seq, ALERT_WARNING, CLOSE_NOTIFY, &mut out);
        self.seq[dir.index()] += 1;
        out
    }
}

/// What a crafted session is: one GET of `target` over `synth` (ALPN http/1.1) answered with
/// `body_len` bytes, and the one anomaly its crafting makes.
struct Session<'a> {
    name: &'static str,
    description: &'a str,
    synth: &'a Synth,
    suite_name: &'static str,
    target: &'static str,
    body_len: usize,
    anomaly: &'static str,
}

impl Session<'_> {
    /// The capture of `steps` after the handshake, its key log and its expected file.
    fn crafted(&self, steps: Steps) -> Crafted {
        let client = format!("{}:{}", ip(CLIENT.0), CLIENT.1);
        let server = format!("{}:{}", ip(SERVER.0), SERVER.1);
        let version = if self.synth.suite.tls13 {
            "TLS 1.3"
        } else {
            "TLS 1.2"
        };
        let name = self.name;
        let exp = json!({
            "schema": "sockscope-expected-tls/1",
            "capture": format!("tls/{name}.pcap"),
            "description": self.description,
            "recorded_by": "SOCKSCOPE_WRITE_CRAFTED=1 cargo test --test tls_captures crafted (tests/common/tls_crafted.rs)",
            "crafted": true,
            "link_types": ["EN10MB"],
            "port": 443,
            "flows": 1,
            "connections": [{"id": 1, "client": client, "server": server, "kind": "http", "midstream": false}],
            "http": [{"flow": 1, "method": "GET", "target": self.target, "status": 200, "request_body_len": 0, "response_body_len": self.body_len, "chunked": false, "upgrade": false}],
            "websocket": [],
            "sse": [],
            "anomalies": [self.anomaly],
            "keylog": format!("tls/{name}.keys"),
            "secrets_in_capture": false,
            "tls": [{"flow": 1, "version": version, "cipher_suite": self.suite_name, "alpn": "http/1.1", "sni": "example.com", "decryptable": true}],
        });
        let mut expected = serde_json::to_string_pretty(&exp).expect("json");
        expected.push('\n');
        Crafted {
            name,
            pcap: session(self.synth, steps),
            keys: self.synth.keylog(),
            expected,
        }
    }

    fn request(&self) -> Vec<u8> {
        format!("GET {} HTTP/1.1\r\nHost: example.com\r\n\r\n", self.target).into_bytes()
    }

    /// The response's head.
    fn head(&self) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            self.body_len
        )
        .into_bytes()
    }
}

fn ip(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

/// TLS 1.2: a GET answered by a response sent in one record of 16 468 bytes of plaintext,
/// over the 2^14 a record may carry.
fn record_too_large() -> Crafted {
    let synth =
        Synth::new(TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, false, 21).expect("a decryptable suite");
    let body: Vec<u8> = (0..16_400u32)
        .map(|i| b"0123456789abcdef"[i as usize % 16])
        .collect();
    let mut s = Session {
        name: "tls12-record-too-large",
        description: "",
        synth: &synth,
        suite_name: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        target: "/large",
        body_len: body.len(),
        anomaly: "tls.record_too_large",
    };
    let mut response = s.head();
    response.extend_from_slice(&body);
    let description = format!(
        "crafted: TLS 1.2 (ECDHE-RSA-AES128-GCM-SHA256, ALPN http/1.1); a GET answered by a response whose head and body go in one record of {} bytes of plaintext, over the 2^14 (16384) a record may carry (RFC 5246 §6.2.1); then both sides' close_notify",
        response.len()
    );
    s.description = &description;
    let mut r = Records::new(&synth);
    s.crafted(vec![
        (C2S, r.data(Dir::C2S, &s.request())),
        (S2C, r.data(Dir::S2C, &response)),
        (C2S, r.close_notify(Dir::C2S)),
        (S2C, r.close_notify(Dir::S2C)),
    ])
}

/// TLS 1.3: the server sends close_notify in the middle of a response's body, then the rest
/// of it (what a truncation or an injection would look like).
fn data_after_close_notify() -> Crafted {
    let synth = Synth::new(TLS_AES_128_GCM_SHA256, false, 22)
        .expect("a decryptable suite")
        .with_alpn(b"http/1.1");
    let first = b"the body until close_notify\n";
    let late = b"and a part sent after it\n";
    let s = Session {
        name: "tls13-data-after-close-notify",
        description: "crafted: TLS 1.3 (TLS_AES_128_GCM_SHA256, ALPN http/1.1); a GET answered by a response whose server sends close_notify after the first part of the body, then one more application data record with the rest of it, then the client's close_notify. The late record is read (tshark reads it too): the body is both parts",
        synth: &synth,
        suite_name: "TLS_AES_128_GCM_SHA256",
        target: "/late",
        body_len: first.len() + late.len(),
        anomaly: "tls.data_after_close_notify",
    };
    let mut response = s.head();
    response.extend_from_slice(first);
    let mut r = Records::new(&synth);
    s.crafted(vec![
        (C2S, r.data(Dir::C2S, &s.request())),
        (S2C, r.data(Dir::S2C, &response)),
        (S2C, r.close_notify(Dir::S2C)),
        (S2C, r.data(Dir::S2C, late)),
        (C2S, r.close_notify(Dir::C2S)),
    ])
}

/// Every crafted TLS capture.
pub fn all() -> Vec<Crafted> {
    vec![record_too_large(), data_after_close_notify()]
}
