//! The TLS layer end to end: RFC 8448 §3 (a real TLS 1.3 trace with its secrets), TLS 1.2 PRF
//! vectors, every suite through a synthetic connection, loss and resynchronisation.

use super::crypto::{RecordKeys, Secret, hkdf_expand_label, prf12};
use super::keylog::{KeyLog, SessionSecrets};
use super::suite::{self, Hash};
use super::testkit::Synth;
use super::{Epoch, TlsCode, TlsConn, TlsEvent, TlsSink, wire};
use crate::tcp::Dir;

pub(crate) fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    s.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).expect("ascii"), 16).expect("hex"))
        .collect()
}

/// Collects everything, per direction.
#[derive(Default)]
pub(crate) struct Collect {
    pub keys: KeyLog,
    pub plain: [Vec<u8>; 2],
    pub gap_bytes: [u64; 2],
    pub gaps_unknown: [u64; 2],
    pub records: [Vec<super::RecordInfo>; 2],
    pub handshakes: [Vec<(u8, bool)>; 2],
    pub alerts: [Vec<(u8, u8)>; 2],
    pub anomalies: Vec<(Dir, TlsCode, String)>,
    pub alpn: Option<Vec<u8>>,
    pub sni: Option<Vec<u8>>,
    pub negotiated: Option<(u16, u16, bool)>,
    pub epochs: [Vec<Epoch>; 2],
}

impl Collect {
    pub fn with_keylog(text: &str) -> Collect {
        let mut c = Collect::default();
        c.keys.add_text(text.as_bytes());
        c
    }
    pub fn codes(&self) -> Vec<TlsCode> {
        self.anomalies.iter().map(|a| a.1).collect()
    }
}

impl TlsSink for Collect {
    fn event(&mut self, dir: Dir, event: TlsEvent<'_>) {
        let d = dir.index();
        match event {
            TlsEvent::Record(r) => self.records[d].push(r),
            TlsEvent::Handshake {
                msg_type,
                encrypted,
                ..
            } => self.handshakes[d].push((msg_type, encrypted)),
            TlsEvent::ClientHello(ch) => self.sni = ch.sni.map(<[u8]>::to_vec),
            TlsEvent::Negotiated(n) => {
                self.negotiated = Some((n.version, n.cipher_suite, n.resumed));
                if let Some(a) = n.alpn {
                    self.alpn = Some(a.to_vec());
                }
            }
            TlsEvent::AlpnSelected(a) => self.alpn = Some(a.to_vec()),
            TlsEvent::Alert {
                level, description, ..
            } => self.alerts[d].push((level, description)),
            TlsEvent::Plaintext(p) => self.plain[d].extend_from_slice(p),
            TlsEvent::PlaintextGap { bytes, .. } => match bytes {
                Some(b) => self.gap_bytes[d] += b,
                None => self.gaps_unknown[d] += 1,
            },
            TlsEvent::Epoch(e) => self.epochs[d].push(e),
            TlsEvent::Anomaly { code, detail } => self.anomalies.push((dir, code, detail)),
            TlsEvent::ServerHello(_) | TlsEvent::ChangeCipherSpec | TlsEvent::Ciphertext(_) => {}
        }
    }
    fn secrets(&mut self, client_random: &[u8; 32]) -> Option<SessionSecrets> {
        self.keys.get(client_random).copied()
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 8448 §3: simple 1-RTT handshake, TLS_AES_128_GCM_SHA256.

const CH_BODY: &str = "0303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7000006130113031302010000910000000b0009000006736572766572ff01000100000a00140012001d0017001800190100010101020103010400230000003300260024001d002099381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d00020101001c00024001";
const SH_REC: &str = "160303005a020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e00330024001d0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f002b00020304";
const FLIGHT_REC: &str = "17030302a2d1ff334a56f5bff6594a07cc87b580233f500f45e489e7f33af35edf7869fcf40aa40aa2b8ea73f848a7ca07612ef9f945cb960b4068905123ea78b111b429ba9191cd05d2a389280f526134aadc7fc78c4b729df828b5ecf7b13bd9aefb0e57f271585b8ea9bb355c7c79020716cfb9b1183ef3ab20e37d57a6b9d7477609aee6e122a4cf51427325250c7d0e509289444c9b3a648f1d71035d2ed65b0e3cdd0cbae8bf2d0b227812cbb360987255cc744110c453baa4fcd610928d809810e4b7ed1a8fd991f06aa6248204797e36a6a73b70a2559c09ead686945ba246ab66e5edd8044b4c6de3fcf2a89441ac66272fd8fb330ef8190579b3684596c960bd596eea520a56a8d650f563aad27409960dca63d3e688611ea5e22f4415cf9538d51a200c27034272968a264ed6540c84838d89f72c24461aad6d26f59ecaba9acbbb317b66d902f4f292a36ac1b639c637ce343117b659622245317b49eeda0c6258f100d7d961ffb138647e92ea330faeea6dfa31c7a84dc3bd7e1b7a6c7178af36879018e3f252107f243d243dc7339d5684c8b0378bf30244da8c87c843f5e56eb4c5e8280a2b48052cf93b16499a66db7cca71e4599426f7d461e66f99882bd89fc50800becca62d6c74116dbd2972fda1fa80f85df881edbe5a37668936b335583b599186dc5c6918a396fa48a181d6b6fa4f9d62d513afbb992f2b992f67f8afe67f76913fa388cb5630c8ca01e0c65d11c66a1e2ac4c85977b7c7a6999bbf10dc35ae69f5515614636c0b9b68c19ed2e31c0b3b66763038ebba42f3b38edc0399f3a9f23faa63978c317fc9fa66a73f60f0504de93b5b845e275592c12335ee340bbc4fddd502784016e4b3be7ef04dda49f4b440a30cb5d2af939828fd4ae3794e44f94df5a631ede42c1719bfdabf0253fe5175be898e750edc53370d2b";
const FIN_REC: &str = "170303003575ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1caeacab6867d726c40546";
const TICKET_REC: &str = "17030300de3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63c758db289a015940252f55713e061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3d03f75e09c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406f16e3fc181a77ca475840025db2f0a77f81b5ab05b94c01346755f69232c86519d86cbeeac87aac347d143f9605d64f650db4d023e70e952ca49fe5137121c74bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779b37bf15985684f";
const CLIENT_APP_REC: &str = "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4";
const SERVER_APP_REC: &str = "17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d";
const SERVER_ALERT_REC: &str = "1703030013b58fd67166ebf599d24720cfbe7efa7a8864a9";
const CLIENT_ALERT_REC: &str = "1703030013c9872760655666b74d7ff1153efd6db6d0b0e3";
const CR: &str = "cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7";

fn rfc8448_keylog() -> String {
    format!(
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET {CR} b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21\n\
         SERVER_HANDSHAKE_TRAFFIC_SECRET {CR} b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38\n\
         CLIENT_TRAFFIC_SECRET_0 {CR} 9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5\n\
         SERVER_TRAFFIC_SECRET_0 {CR} a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643\n"
    )
}

/// The trace as (direction, bytes) in the order RFC 8448 sends it.
fn rfc8448_trace() -> Vec<(Dir, Vec<u8>)> {
    let body = hex(CH_BODY);
    let mut ch = vec![0x16, 0x03, 0x01, 0x00, 0xc4, 0x01, 0x00, 0x00, 0xc0];
    ch.extend_from_slice(&body);
    let mut flight = hex(SH_REC);
    flight.extend(hex(FLIGHT_REC));
    vec![
        (Dir::C2S, ch),
        (Dir::S2C, flight),
        (Dir::C2S, hex(FIN_REC)),
        (Dir::S2C, hex(TICKET_REC)),
        (Dir::C2S, hex(CLIENT_APP_REC)),
        (Dir::S2C, hex(SERVER_APP_REC)),
        (Dir::S2C, hex(SERVER_ALERT_REC)),
        (Dir::C2S, hex(CLIENT_ALERT_REC)),
    ]
}

fn run(trace: &[(Dir, Vec<u8>)], sink: &mut Collect, chunk: usize) {
    let mut conn = TlsConn::new();
    for (dir, bytes) in trace {
        for piece in bytes.chunks(chunk.max(1)) {
            conn.feed(*dir, piece, sink);
        }
    }
    conn.finish(sink);
}

#[test]
fn rfc8448_keys_from_traffic_secrets() {
    let suite = suite::lookup(0x1301).expect("suite");
    let mut key = [0u8; 16];
    let mut iv = [0u8; 12];
    let shts = hex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38");
    hkdf_expand_label(suite.hash, &shts, b"key", &[], &mut key);
    hkdf_expand_label(suite.hash, &shts, b"iv", &[], &mut iv);
    assert_eq!(key.to_vec(), hex("3fce516009c21727d0f2e4e86ee403bc"));
    assert_eq!(iv.to_vec(), hex("5d313eb2671276ee13000b30"));
    let sats = hex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643");
    hkdf_expand_label(suite.hash, &sats, b"key", &[], &mut key);
    hkdf_expand_label(suite.hash, &sats, b"iv", &[], &mut iv);
    assert_eq!(key.to_vec(), hex("9f02283b6c9c07efc26bb9f2ac92e356"));
    assert_eq!(iv.to_vec(), hex("cf782b88dd83549aadf1e984"));
}

#[test]
fn rfc8448_whole_trace_decrypts() {
    let expected: Vec<u8> = (0..50).collect();
    for chunk in [usize::MAX, 1, 7, 100] {
        let mut sink = Collect::with_keylog(&rfc8448_keylog());
        run(&rfc8448_trace(), &mut sink, chunk);
        assert!(sink.anomalies.is_empty(), "{:?}", sink.anomalies);
        assert_eq!(sink.plain[0], expected, "client plaintext, chunk {chunk}");
        assert_eq!(sink.plain[1], expected, "server plaintext, chunk {chunk}");
        assert_eq!(sink.handshakes[0], [(1, false), (20, true)]);
        assert_eq!(
            sink.handshakes[1],
            [
                (2, false),
                (8, true),
                (11, true),
                (15, true),
                (20, true),
                (4, true)
            ]
        );
        assert_eq!(sink.alerts, [vec![(1, 0)], vec![(1, 0)]]);
        assert_eq!(sink.sni.as_deref(), Some(&b"server"[..]));
        assert_eq!(sink.negotiated, Some((0x0304, 0x1301, false)));
        assert_eq!(sink.alpn, None);
        let s2c = &sink.records[1];
        assert_eq!(s2c.len(), 5);
        assert_eq!(s2c[1].len, 0x2a2);
        assert_eq!(s2c[1].seq, Some(0));
        assert_eq!(s2c[1].epoch, Epoch::Handshake);
        assert_eq!(s2c[1].inner_type, Some(wire::CONTENT_HANDSHAKE));
        assert_eq!((s2c[1].tag, s2c[1].inner_type_bytes), (16, 1));
        // The ticket is the first record under the application keys, then the data.
        assert_eq!(
            (s2c[2].epoch, s2c[2].seq),
            (Epoch::Application { generation: 0 }, Some(0))
        );
        assert_eq!((s2c[3].seq, s2c[3].plaintext_len), (Some(1), Some(50)));
        assert!(s2c.iter().skip(1).all(|r| r.decrypted));
        assert_eq!(s2c[3].offset, 5 + 0x5a + 5 + 0x2a2 + 5 + 0xde);
    }
}

#[test]
fn rfc8448_without_secrets_still_reports_the_handshake() {
    let mut sink = Collect::default();
    run(&rfc8448_trace(), &mut sink, usize::MAX);
    assert_eq!(sink.codes(), [TlsCode::TlsMissingSecrets]);
    assert!(sink.anomalies[0].2.contains(CR), "{}", sink.anomalies[0].2);
    assert!(sink.plain[0].is_empty() && sink.plain[1].is_empty());
    assert_eq!(sink.records[0].len(), 4);
    assert_eq!(sink.records[1].len(), 5);
    assert!(sink.records[1].iter().all(|r| !r.decrypted));
    // Without keys the end of the handshake epoch is invisible in TLS 1.3.
    assert_eq!(sink.records[1][3].seq, None);
    assert_eq!(sink.handshakes[1], [(2, false)]);
    assert_eq!(sink.negotiated, Some((0x0304, 0x1301, false)));
}

#[test]
fn rfc8448_with_a_wrong_key_fails_authentication() {
    let keys = rfc8448_keylog().replace("a11af9f0", "a11af9f1");
    let mut sink = Collect::with_keylog(&keys);
    run(&rfc8448_trace(), &mut sink, usize::MAX);
    assert_eq!(sink.codes(), [TlsCode::TlsDecryptFailed]);
    assert_eq!(sink.anomalies[0].0, Dir::S2C);
    assert_eq!(sink.plain[0], (0..50).collect::<Vec<u8>>());
    assert!(sink.plain[1].is_empty());
    // ticket (205 bytes of content + type + tag) and data (50), alert (2)
    assert_eq!(sink.gap_bytes[1], (0xde - 17) + 50 + 2);
}

#[test]
fn rfc8448_corrupted_record() {
    let mut trace = rfc8448_trace();
    let last = trace[4].1.len() - 3;
    trace[4].1[last] ^= 0x40;
    let mut sink = Collect::with_keylog(&rfc8448_keylog());
    run(&trace, &mut sink, usize::MAX);
    assert_eq!(sink.codes(), [TlsCode::TlsDecryptFailed]);
    assert!(sink.plain[0].is_empty());
    assert_eq!(sink.gap_bytes[0], 50);
    // The next record (the close_notify) still opens: its sequence number moved on.
    assert_eq!(sink.alerts[0], [(1, 0)]);
}

#[test]
fn tls12_prf_vectors() {
    let mut out = [0u8; 100];
    prf12(
        Hash::Sha256,
        &hex("9bbe436ba940f017b17652849a71db35"),
        b"test label",
        &[&hex("a0ba9f936cda311827a6f796ffd5198c")],
        &mut out,
    );
    assert_eq!(
        out.to_vec(),
        hex(
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66"
        )
    );
    let mut out = [0u8; 148];
    prf12(
        Hash::Sha384,
        &hex("b80b733d6ceefcdc71566ea48e5567df"),
        b"test label",
        &[&hex("cd665cf6"), &hex("a8447dd6ff8b27555edb7465")],
        &mut out,
    );
    assert_eq!(
        out.to_vec(),
        hex(
            "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d9184259b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee691c8f3a26854308d5eaa3be85e0990703d73e56f"
        )
    );
}

/// Every decryptable suite (CBC with and without encrypt-then-MAC).
pub(crate) fn all_suites() -> Vec<(u16, bool)> {
    let ids = [
        0x1301, 0x1302, 0x1303, 0xc02f, 0xc030, 0x009c, 0xcca8, 0xcca9, 0xc013, 0xc014, 0xc027,
        0xc028, 0x003c, 0xc024,
    ];
    let mut v = Vec::new();
    for id in ids {
        let cbc = suite::lookup(id).is_some_and(|s| !s.cipher.is_aead());
        v.push((id, false));
        if cbc {
            v.push((id, true));
        }
    }
    v
}

/// A synthetic connection: handshake, then `msgs` application records each way.
pub(crate) fn synth_trace(s: &Synth, msgs: &[&[u8]]) -> Vec<(Dir, Vec<u8>)> {
    let mut trace = s.handshake();
    for dir in [Dir::C2S, Dir::S2C] {
        let mut bytes = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            s.app_record(dir, s.first_app_seq() + i as u64, m, &mut bytes);
        }
        trace.push((dir, bytes));
    }
    trace
}

#[test]
fn every_suite_round_trips() {
    let msgs: [&[u8]; 4] = [b"hello", b"", &[0xab; 3000], &[7; 16384]];
    let expected: Vec<u8> = msgs.concat();
    for (id, etm) in all_suites() {
        let s = Synth::new(id, etm, 3).expect("suite");
        for chunk in [usize::MAX, 13] {
            let mut sink = Collect::with_keylog(&s.keylog());
            run(&synth_trace(&s, &msgs), &mut sink, chunk);
            assert!(
                sink.anomalies.is_empty(),
                "{id:04x} etm {etm}: {:?}",
                sink.anomalies
            );
            assert_eq!(sink.plain[0], expected, "{id:04x} etm {etm}");
            assert_eq!(sink.plain[1], expected, "{id:04x} etm {etm}");
            let tls13 = id >> 8 == 0x13;
            assert_eq!(
                sink.alpn.as_deref(),
                Some(if tls13 { &b"h2"[..] } else { b"http/1.1" })
            );
            let last = sink.records[1].last().expect("records");
            assert!(last.decrypted);
            assert_eq!(last.plaintext_len, Some(16384));
            if !tls13 && etm {
                assert_eq!(last.explicit_iv, 16);
            }
        }
    }
}

#[test]
fn key_update_moves_to_the_next_generation() {
    let s = Synth::new(0x1302, false, 9).expect("suite");
    let suite = s.suite;
    let mut trace = s.handshake();
    let secrets = s.secrets();
    let gen0 = secrets.client_traffic.expect("secret");
    let gen1 = super::crypto::next_traffic_secret(suite.hash, &gen0);
    let k0 = RecordKeys::tls13(suite, &gen0).expect("keys");
    let k1 = RecordKeys::tls13(suite, &gen1).expect("keys");
    let mut c = Vec::new();
    k0.seal(0, wire::CONTENT_APPLICATION_DATA, b"before", &mut c);
    k0.seal(1, wire::CONTENT_HANDSHAKE, &[24, 0, 0, 1, 1], &mut c);
    k1.seal(0, wire::CONTENT_APPLICATION_DATA, b"after", &mut c);
    k1.seal(1, wire::CONTENT_APPLICATION_DATA, b"!", &mut c);
    trace.push((Dir::C2S, c));
    let mut sink = Collect::with_keylog(&s.keylog());
    run(&trace, &mut sink, usize::MAX);
    assert!(sink.anomalies.is_empty(), "{:?}", sink.anomalies);
    assert_eq!(sink.plain[0], b"beforeafter!");
    assert_eq!(
        sink.epochs[0],
        [
            Epoch::Application { generation: 0 },
            Epoch::Application { generation: 1 }
        ]
    );
    assert_eq!(sink.records[0].last().map(|r| r.seq), Some(Some(1)));
}

#[test]
fn alerts_close_notify_and_data_after_it() {
    let s = Synth::new(0xc02f, false, 1).expect("suite");
    let mut trace = s.handshake();
    let mut c = Vec::new();
    s.app_record(Dir::C2S, 1, b"req", &mut c);
    s.alert_record(Dir::C2S, 2, 1, 0, &mut c);
    s.app_record(Dir::C2S, 3, b"late", &mut c);
    trace.push((Dir::C2S, c));
    let mut sv = Vec::new();
    s.alert_record(Dir::S2C, 1, 2, 40, &mut sv);
    trace.push((Dir::S2C, sv));
    let mut sink = Collect::with_keylog(&s.keylog());
    run(&trace, &mut sink, usize::MAX);
    assert_eq!(
        sink.codes(),
        [TlsCode::TlsDataAfterCloseNotify, TlsCode::TlsAlert]
    );
    assert!(sink.anomalies[1].2.contains("handshake_failure"));
    assert_eq!(sink.plain[0], b"reqlate");
}

#[test]
fn oversized_records_are_reported() {
    let s = Synth::new(0x1301, false, 2).expect("suite");
    let mut trace = s.handshake();
    let mut c = Vec::new();
    s.app_record(Dir::C2S, 0, &vec![1; 16385], &mut c);
    trace.push((Dir::C2S, c));
    let mut sink = Collect::with_keylog(&s.keylog());
    run(&trace, &mut sink, usize::MAX);
    assert_eq!(sink.codes(), [TlsCode::TlsRecordTooLarge]);
    assert_eq!(sink.plain[0].len(), 16385);
}

#[test]
fn unsupported_suites_and_versions_are_named() {
    let mut sink = Collect::default();
    let mut conn = TlsConn::new();
    let s = Synth::new(0xc02f, false, 1).expect("suite");
    let steps = s.handshake();
    conn.feed(Dir::C2S, &steps[0].1, &mut sink);
    // ServerHello selecting TLS_AES_128_CCM_SHA256, then TLS 1.1.
    let mut sh = steps[1].1.clone();
    sh[5 + 4 + 2 + 32 + 1] = 0x13;
    sh[5 + 4 + 2 + 32 + 2] = 0x04;
    conn.feed(Dir::S2C, &sh[..5 + 4 + usize::from(sh[8])], &mut sink);
    assert_eq!(sink.codes(), [TlsCode::TlsUnsupportedCipherSuite]);
    assert!(sink.anomalies[0].2.contains("TLS_AES_128_CCM_SHA256"));
}

#[test]
fn garbage_is_reported_and_skipped() {
    let s = Synth::new(0x1303, false, 4).expect("suite");
    let mut trace = synth_trace(&s, &[b"one", b"two"]);
    // Junk before the client's application records.
    let junk = b"GET / HTTP/1.1\r\n".to_vec();
    let last = trace.len() - 2;
    let mut c = junk;
    c.extend_from_slice(&trace[last].1);
    trace[last].1 = c;
    let mut sink = Collect::with_keylog(&s.keylog());
    run(&trace, &mut sink, usize::MAX);
    assert_eq!(sink.codes(), [TlsCode::TlsBadRecord, TlsCode::TlsResync]);
    assert_eq!(sink.plain[0], b"onetwo");
    assert_eq!(sink.plain[1], b"onetwo");
}

/// Loss: the plaintext gap equals what was lost, for every AEAD suite and every cut.
#[test]
fn gaps_report_the_missing_plaintext() {
    let msgs: Vec<Vec<u8>> = (0..8).map(|i| vec![i as u8; 100 + 300 * i]).collect();
    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    for (id, etm) in all_suites() {
        let s = Synth::new(id, etm, 5).expect("suite");
        let trace = synth_trace(&s, &refs);
        let (handshake, app) = trace.split_at(trace.len() - 2);
        let stream = &app[1].1;
        // Record boundaries of the server's application stream.
        let mut bounds = vec![0usize];
        while *bounds.last().expect("b") < stream.len() {
            let at = *bounds.last().expect("b");
            let len = usize::from(u16::from_be_bytes([stream[at + 3], stream[at + 4]]));
            bounds.push(at + 5 + len);
        }
        // Lose [a, b): inside one record, across several, at boundaries.
        let cuts = [
            (10, 50),
            (bounds[1], bounds[2]),
            (bounds[1] + 3, bounds[4] + 7),
            (bounds[2] - 1, bounds[2] + 2),
            (3, bounds[6] - 2),
        ];
        for (a, b) in cuts {
            let mut sink = Collect::with_keylog(&s.keylog());
            let mut conn = TlsConn::new();
            for (dir, bytes) in handshake {
                conn.feed(*dir, bytes, &mut sink);
            }
            conn.feed(Dir::S2C, &stream[..a], &mut sink);
            conn.gap(Dir::S2C, (b - a) as u64, &mut sink);
            conn.feed(Dir::S2C, &stream[b..], &mut sink);
            conn.finish(&mut sink);
            let first = bounds.iter().rposition(|&x| x <= a).expect("first");
            let last = bounds.iter().position(|&x| x >= b).expect("last");
            let lost: Vec<u8> = msgs[first..last].concat();
            let kept: Vec<u8> = [&msgs[..first], &msgs[last..]].concat().concat();
            assert_eq!(sink.plain[1], kept, "{id:04x} etm {etm} cut {a}..{b}");
            if suite::lookup(id).is_some_and(|x| x.cipher.is_aead()) {
                assert_eq!(
                    sink.gap_bytes[1],
                    lost.len() as u64,
                    "{id:04x} cut {a}..{b}"
                );
                assert_eq!(sink.gaps_unknown[1], 0, "{id:04x} cut {a}..{b}");
            } else {
                assert!(sink.gaps_unknown[1] > 0 || sink.gap_bytes[1] == 0 && lost.is_empty());
            }
            assert!(
                sink.codes().iter().all(|c| *c == TlsCode::TlsResync),
                "{id:04x} cut {a}..{b}: {:?}",
                sink.anomalies
            );
        }
    }
}

#[test]
fn secrets_appearing_later_are_used() {
    // A live key log: the secrets arrive after the handshake.
    let s = Synth::new(0xc030, false, 6).expect("suite");
    let trace = synth_trace(&s, &[b"abc"]);
    let mut sink = Collect::default();
    let mut conn = TlsConn::new();
    for (dir, bytes) in &trace[..trace.len() - 2] {
        conn.feed(*dir, bytes, &mut sink);
    }
    sink.keys.add_text(s.keylog().as_bytes());
    for (dir, bytes) in &trace[trace.len() - 2..] {
        conn.feed(*dir, bytes, &mut sink);
    }
    assert_eq!(sink.plain[0], b"abc");
    assert_eq!(sink.plain[1], b"abc");
    assert_eq!(sink.codes(), [TlsCode::TlsMissingSecrets]);
}

#[test]
fn secret_debug_does_not_leak() {
    let s = Secret::new(&[0x42; 32]).expect("secret");
    assert_eq!(format!("{s:?}"), "Secret(32 bytes)");
}

#[test]
fn tls12_abbreviated_order_server_protects_first() {
    // Resumption (RFC 5246 §7.3): the server's ChangeCipherSpec and Finished come before the
    // client's. Keys for both directions come from one key block either way.
    let s = Synth::new(0xc02f, false, 8).expect("suite");
    let mut trace = synth_trace(&s, &[b"resumed"]);
    trace.swap(2, 3);
    let mut sink = Collect::with_keylog(&s.keylog());
    run(&trace, &mut sink, usize::MAX);
    assert!(sink.anomalies.is_empty(), "{:?}", sink.anomalies);
    assert_eq!(sink.plain, [b"resumed".to_vec(), b"resumed".to_vec()]);
}

#[test]
fn tls12_renegotiation_is_reported() {
    let s = Synth::new(0xc02f, false, 9).expect("suite");
    let mut trace = s.handshake();
    let mut sv = Vec::new();
    // An encrypted HelloRequest from the server.
    let keys = RecordKeys::tls12(
        s.suite,
        &s.secrets().master.expect("master"),
        &s.client_random,
        &s.server_random,
        false,
    )
    .expect("keys")
    .1;
    keys.seal(1, wire::CONTENT_HANDSHAKE, &[0, 0, 0, 0], &mut sv);
    trace.push((Dir::S2C, sv));
    let mut sink = Collect::with_keylog(&s.keylog());
    run(&trace, &mut sink, usize::MAX);
    assert_eq!(sink.codes(), [TlsCode::TlsRenegotiation]);
    assert_eq!(sink.handshakes[1].last(), Some(&(0, true)));
}

#[test]
fn tls13_early_data_has_its_own_keys_and_sequence() {
    for with_early_secret in [true, false] {
        let mut s = Synth::new(0x1301, false, 10).expect("suite");
        s.early_data = true;
        let mut trace = synth_trace(&s, &[b"after"]);
        // The client's flight after the server's: two 0-RTT records, then its Finished.
        let early = super::crypto::RecordKeys::tls13(
            s.suite,
            s.secrets().client_early.as_ref().expect("early"),
        )
        .expect("keys");
        let mut c = Vec::new();
        early.seal(0, wire::CONTENT_APPLICATION_DATA, b"0rtt-1 ", &mut c);
        early.seal(1, wire::CONTENT_APPLICATION_DATA, b"0rtt-2 ", &mut c);
        c.extend_from_slice(&trace[2].1);
        trace[2].1 = c;
        let mut keylog = s.keylog();
        if !with_early_secret {
            keylog = keylog
                .lines()
                .filter(|l| !l.starts_with("CLIENT_EARLY"))
                .map(|l| format!("{l}\n"))
                .collect();
        }
        let mut sink = Collect::with_keylog(&keylog);
        run(&trace, &mut sink, usize::MAX);
        assert!(sink.anomalies.is_empty(), "{:?}", sink.anomalies);
        let epochs: Vec<Epoch> = sink.records[0].iter().map(|r| r.epoch).collect();
        assert_eq!(epochs[1..3], [Epoch::Early, Epoch::Early]);
        if with_early_secret {
            assert_eq!(sink.plain[0], b"0rtt-1 0rtt-2 after");
        } else {
            assert_eq!(sink.plain[0], b"after");
            assert_eq!(sink.gap_bytes[0], 14);
        }
    }
}

/// The memory budget takes back a record being assembled: said (`tls.budget`), its plaintext
/// reported lost, the buffer freed, and the records after it read as before, for every suite.
#[test]
fn giving_way_loses_the_record_being_assembled_and_nothing_after_it() {
    let msgs: [&[u8]; 3] = [&[b'a'; 700], &[b'b'; 9000], &[b'c'; 300]];
    for (id, etm) in all_suites() {
        let s = Synth::new(id, etm, 9).expect("suite");
        let trace = synth_trace(&s, &msgs);
        let (handshake, app) = trace.split_at(trace.len() - 2);
        let stream = &app[1].1;
        let second = 5 + usize::from(u16::from_be_bytes([stream[3], stream[4]]));
        let mut sink = Collect::with_keylog(&s.keylog());
        let mut conn = TlsConn::new();
        for (dir, bytes) in handshake {
            conn.feed(*dir, bytes, &mut sink);
        }
        // Halfway into the second record.
        let cut = second + 4000;
        conn.feed(Dir::S2C, &stream[..cut], &mut sink);
        assert!(conn.held_bytes() >= 4000 - 5, "{id:04x}");
        conn.give_way(&mut sink);
        assert_eq!(conn.held_bytes(), 0, "{id:04x}");
        conn.feed(Dir::S2C, &stream[cut..], &mut sink);
        conn.finish(&mut sink);
        assert_eq!(
            sink.plain[1],
            [msgs[0], msgs[2]].concat(),
            "{id:04x} etm {etm}"
        );
        assert_eq!(
            sink.codes(),
            [TlsCode::TlsBudget],
            "{id:04x}: {:?}",
            sink.anomalies
        );
        assert!(
            sink.anomalies[0]
                .2
                .contains("bytes of a record being assembled")
        );
        if suite::lookup(id).is_some_and(|x| x.cipher.is_aead()) {
            assert_eq!(sink.gap_bytes[1], msgs[1].len() as u64, "{id:04x}");
        } else {
            assert!(sink.gap_bytes[1] + sink.gaps_unknown[1] > 0, "{id:04x}");
        }
    }
}

/// A handshake message being reassembled across records, given up between two of its
/// records, is skipped to its end exactly: the messages after it are read.
#[test]
fn giving_way_skips_the_handshake_message_being_reassembled() {
    let s = Synth::new(0xc02f, false, 4).expect("suite");
    let mut hs = s.handshake();
    // A Certificate of 40 000 bytes in three plaintext records, then ServerHelloDone, in the
    // server's first flight (after its ServerHello).
    let mut cert = vec![11u8, 0, 0x9c, 0x40];
    cert.resize(4 + 40_000, 7);
    let mut flight = Vec::new();
    let hello_len = 5 + usize::from(u16::from_be_bytes([hs[1].1[3], hs[1].1[4]]));
    flight.extend_from_slice(&hs[1].1[..hello_len]);
    for piece in cert.chunks(16_000) {
        flight.extend_from_slice(&[22, 3, 3]);
        flight.extend_from_slice(&(piece.len() as u16).to_be_bytes());
        flight.extend_from_slice(piece);
    }
    flight.extend_from_slice(&hs[1].1[hello_len..]);
    hs[1].1 = flight;
    let mut sink = Collect::with_keylog(&s.keylog());
    let mut conn = TlsConn::new();
    conn.feed(hs[0].0, &hs[0].1, &mut sink);
    // The ServerHello and the first Certificate record: 16 000 bytes of it reassembling.
    let first = hello_len + 5 + 16_000;
    conn.feed(Dir::S2C, &hs[1].1[..first], &mut sink);
    assert!(conn.held_bytes() >= 16_000);
    conn.give_way(&mut sink);
    conn.feed(Dir::S2C, &hs[1].1[first..], &mut sink);
    for (dir, bytes) in &hs[2..] {
        conn.feed(*dir, bytes, &mut sink);
    }
    let mut app = Vec::new();
    s.app_record(Dir::C2S, 1, b"after the budget", &mut app);
    conn.feed(Dir::C2S, &app, &mut sink);
    conn.finish(&mut sink);
    assert_eq!(sink.codes(), [TlsCode::TlsBudget], "{:?}", sink.anomalies);
    // ServerHello, then ServerHelloDone: the Certificate never completed, nothing misread.
    assert_eq!(sink.handshakes[1][..2], [(2, false), (14, false)]);
    assert_eq!(sink.plain[0], b"after the budget");
}
