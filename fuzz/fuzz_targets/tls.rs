//! Fuzz target for the TLS record layer (`TlsConn`): arbitrary bytes, gaps and validly sealed
//! records, in both directions, after a synthetic handshake whose secrets are known (or with
//! no handshake at all). It must never panic and never hold more than its bounds.
//!
//! Input layout: byte 0 selects the suite (low 4 bits) and the setup (bit 4: feed the
//! synthetic handshake first, bit 5: give the key log, bit 6: encrypt-then-MAC). Then records:
//! a control byte `c` (bit 0: direction; bits 1-2: 0 = `(c >> 3) + 1` raw bytes follow,
//! 1 = a gap of `(c >> 3) * 53 + 1` bytes (with `c >> 3` = 31: the memory budget takes back
//! what the layer holds, `give_way`), 2 = a sealed application record of `(c >> 3) * 97`
//! bytes with the next sequence number, 3 = a record sealed with a skipped sequence number).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::proto::tls::testkit::Synth;
use sockscope::proto::tls::{SessionSecrets, TlsConn, TlsEvent, TlsSink};
use sockscope::tcp::Dir;

const SUITES: [u16; 16] = [
    0x1301, 0x1302, 0x1303, 0xc02f, 0xc030, 0xcca8, 0xc013, 0xc027, 0xc028, 0x009c, 0xc02b,
    0xcca9, 0x002f, 0x003d, 0xc024, 0x1304,
];

struct Sink {
    secrets: Option<SessionSecrets>,
    bytes: u64,
}

impl TlsSink for Sink {
    fn event(&mut self, _dir: Dir, event: TlsEvent<'_>) {
        self.bytes += match event {
            TlsEvent::Plaintext(p) => p.len() as u64,
            TlsEvent::Anomaly { detail, .. } => detail.len() as u64,
            TlsEvent::ClientHello(ch) => ch.alpn().count() as u64 + ch.suites().count() as u64,
            _ => 1,
        };
    }
    fn secrets(&mut self, _client_random: &[u8; 32]) -> Option<SessionSecrets> {
        self.secrets
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let synth = Synth::new(
        SUITES[usize::from(setup & 15)],
        setup & 64 != 0,
        setup,
    );
    let mut sink = Sink {
        secrets: synth
            .as_ref()
            .filter(|_| setup & 32 != 0)
            .map(Synth::secrets),
        bytes: 0,
    };
    let mut conn = TlsConn::new();
    let mut seq = [0u64; 2];
    if let Some(s) = synth.as_ref().filter(|_| setup & 16 != 0) {
        for (dir, bytes) in s.handshake() {
            conn.feed(dir, &bytes, &mut sink);
        }
        seq = [s.first_app_seq(); 2];
    }
    let mut record = Vec::new();
    while let Some((&c, tail)) = rest.split_first() {
        let dir = if c & 1 == 0 { Dir::C2S } else { Dir::S2C };
        let arg = usize::from(c >> 3);
        rest = tail;
        match (c >> 1) & 3 {
            0 => {
                let n = (arg + 1).min(rest.len());
                let (chunk, after) = rest.split_at(n);
                conn.feed(dir, chunk, &mut sink);
                rest = after;
            }
            // The largest gap code instead gives way to the memory budget, which must leave
            // nothing held.
            1 if arg == 31 => {
                conn.give_way(&mut sink);
                assert_eq!(conn.held_bytes(), 0);
            }
            1 => conn.gap(dir, arg as u64 * 53 + 1, &mut sink),
            kind => {
                let Some(s) = synth.as_ref() else { continue };
                if kind == 3 {
                    seq[dir.index()] += 1 + (arg as u64 & 7);
                }
                record.clear();
                let plain = vec![c; arg * 97];
                s.app_record(dir, seq[dir.index()], &plain, &mut record);
                seq[dir.index()] += 1;
                conn.feed(dir, &record, &mut sink);
            }
        }
        assert!(conn.held_bytes() < 1 << 20);
    }
    conn.finish(&mut sink);
});
