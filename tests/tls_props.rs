//! Property tests of the TLS record layer (`sockscope::proto::tls`): for every decryptable
//! suite, records built from arbitrary plaintext with known keys and cut into arbitrary TCP
//! segments decrypt to exactly that plaintext; with segments lost, what is delivered is exactly
//! the records received whole, and the reported plaintext gap equals the plaintext of the
//! records that were not (exact for AEAD suites, whose overhead per record is fixed); the memory
//! budget giving way at any point loses exactly the record in progress there.

use proptest::prelude::*;
use sockscope::proto::tls::testkit::Synth;
use sockscope::proto::tls::{KeyLog, SessionSecrets, TlsCode, TlsConn, TlsEvent, TlsSink};
use sockscope::tcp::Dir;

/// Every decryptable suite, CBC ones with and without encrypt-then-MAC.
const SUITES: &[(u16, bool)] = &[
    (0x1301, false),
    (0x1302, false),
    (0x1303, false),
    (0xc02f, false),
    (0xc030, false),
    (0xcca8, false),
    (0xc013, false),
    (0xc013, true),
    (0xc027, false),
    (0xc027, true),
    (0xc028, false),
    (0xc028, true),
];

#[derive(Default)]
struct Sink {
    keys: KeyLog,
    plain: Vec<u8>,
    gap_bytes: u64,
    gap_unknown: u64,
    anomalies: Vec<(TlsCode, String)>,
}

impl TlsSink for Sink {
    fn event(&mut self, dir: Dir, event: TlsEvent<'_>) {
        match event {
            TlsEvent::Plaintext(p) if dir == Dir::S2C => self.plain.extend_from_slice(p),
            TlsEvent::PlaintextGap { bytes, .. } if dir == Dir::S2C => match bytes {
                Some(b) => self.gap_bytes += b,
                None => self.gap_unknown += 1,
            },
            TlsEvent::Anomaly { code, detail } => self.anomalies.push((code, detail)),
            _ => {}
        }
    }
    fn secrets(&mut self, client_random: &[u8; 32]) -> Option<SessionSecrets> {
        self.keys.get(client_random).copied()
    }
}

/// A synthetic connection: its handshake steps, the server's application stream, and that
/// stream's record boundaries.
struct Built {
    synth: Synth,
    handshake: Vec<(Dir, Vec<u8>)>,
    stream: Vec<u8>,
    bounds: Vec<usize>,
}

fn build(suite: usize, msgs: &[Vec<u8>]) -> Built {
    let (id, etm) = SUITES[suite];
    let s = Synth::new(id, etm, suite as u8).expect("decryptable suite");
    let handshake = s.handshake();
    let mut stream = Vec::new();
    let mut bounds = vec![0];
    for (i, m) in msgs.iter().enumerate() {
        s.app_record(Dir::S2C, s.first_app_seq() + i as u64, m, &mut stream);
        bounds.push(stream.len());
    }
    Built {
        synth: s,
        handshake,
        stream,
        bounds,
    }
}

/// Segment boundaries from arbitrary cut points.
fn segments(len: usize, cuts: &[usize]) -> Vec<(usize, usize)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| (w[0], w[1])).collect()
}

fn messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(any::<u8>(), 64..3000),
            (1usize..16385).prop_map(|n| vec![0x5a; n]),
        ],
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_segmentation_decrypts_to_the_plaintext(
        suite in 0..SUITES.len(),
        msgs in messages(),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let Built { synth: s, handshake, stream, .. } = build(suite, &msgs);
        let mut sink = Sink::default();
        sink.keys.add_text(s.keylog().as_bytes());
        let mut conn = TlsConn::new();
        for (dir, bytes) in &handshake {
            conn.feed(*dir, bytes, &mut sink);
        }
        for (a, b) in segments(stream.len(), &cuts) {
            conn.feed(Dir::S2C, &stream[a..b], &mut sink);
        }
        conn.finish(&mut sink);
        prop_assert!(sink.anomalies.is_empty(), "{:?}", sink.anomalies);
        prop_assert_eq!(sink.plain, msgs.concat());
        prop_assert_eq!(sink.gap_bytes + sink.gap_unknown, 0);
    }

    #[test]
    fn lost_segments_become_exact_plaintext_gaps(
        suite in 0..SUITES.len(),
        msgs in messages(),
        cuts in prop::collection::vec(any::<usize>(), 1..40),
        lose in prop::collection::vec(any::<bool>(), 1..40),
    ) {
        let Built { synth: s, handshake, stream, bounds } = build(suite, &msgs);
        let mut sink = Sink::default();
        sink.keys.add_text(s.keylog().as_bytes());
        let mut conn = TlsConn::new();
        for (dir, bytes) in &handshake {
            conn.feed(*dir, bytes, &mut sink);
        }
        // The last record must arrive whole: a loss at the very end has no record after it
        // to measure it by.
        let last_start = bounds[bounds.len() - 2];
        let segs = segments(stream.len(), &cuts);
        let mut received = vec![true; stream.len()];
        for (i, (a, b)) in segs.iter().copied().enumerate() {
            let lost = lose[i % lose.len()] && b <= last_start;
            if lost {
                conn.gap(Dir::S2C, (b - a) as u64, &mut sink);
                received[a..b].iter_mut().for_each(|r| *r = false);
            } else {
                conn.feed(Dir::S2C, &stream[a..b], &mut sink);
            }
        }
        conn.finish(&mut sink);
        let mut kept = Vec::new();
        let mut missing = 0u64;
        for (i, m) in msgs.iter().enumerate() {
            if received[bounds[i]..bounds[i + 1]].iter().all(|&r| r) {
                kept.extend_from_slice(m);
            } else {
                missing += m.len() as u64;
            }
        }
        prop_assert_eq!(&sink.plain, &kept);
        prop_assert!(
            sink.anomalies.iter().all(|(c, _)| *c == TlsCode::TlsResync),
            "{:?}", sink.anomalies
        );
        let (id, _) = SUITES[suite];
        let aead = sockscope::proto::tls::suite::lookup(id).is_some_and(|x| x.cipher.is_aead());
        if aead {
            prop_assert_eq!(sink.gap_unknown, 0);
            prop_assert_eq!(sink.gap_bytes, missing);
        } else if missing > 0 {
            prop_assert!(sink.gap_unknown + sink.gap_bytes > 0);
        }
    }

    /// The memory budget taking back what the layer holds, at any point of any segmentation,
    /// loses exactly the record being assembled there (nothing at a record boundary), says so
    /// once, and reports that record's plaintext as the gap.
    #[test]
    fn giving_way_loses_only_the_record_in_progress(
        suite in 0..SUITES.len(),
        msgs in messages(),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
        at in any::<usize>(),
    ) {
        let Built { synth: s, handshake, stream, bounds } = build(suite, &msgs);
        let mut sink = Sink::default();
        sink.keys.add_text(s.keylog().as_bytes());
        let mut conn = TlsConn::new();
        for (dir, bytes) in &handshake {
            conn.feed(*dir, bytes, &mut sink);
        }
        // Give way before the last record (a loss needs a record after it to end).
        let last_start = bounds[bounds.len() - 2];
        let at = at % (last_start + 1);
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        points.push(at);
        for (a, b) in segments(stream.len(), &points) {
            if a == at {
                conn.give_way(&mut sink);
                prop_assert_eq!(conn.held_bytes(), 0);
            }
            conn.feed(Dir::S2C, &stream[a..b], &mut sink);
        }
        conn.finish(&mut sink);
        // The record `at` falls strictly inside, if any.
        let inside = (0..msgs.len()).find(|&i| bounds[i] < at && at < bounds[i + 1]);
        let kept: Vec<u8> = msgs
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != inside)
            .flat_map(|(_, m)| m.iter().copied())
            .collect();
        prop_assert_eq!(&sink.plain, &kept);
        let budget = sink.anomalies.iter().filter(|(c, _)| *c == TlsCode::TlsBudget).count();
        prop_assert_eq!(budget, usize::from(inside.is_some()), "{:?}", sink.anomalies);
        // A record given up before its header was whole is found again by scanning.
        prop_assert!(
            sink.anomalies.iter().all(|(c, _)| matches!(c, TlsCode::TlsBudget | TlsCode::TlsResync)),
            "{:?}", sink.anomalies
        );
        let (id, _) = SUITES[suite];
        let aead = sockscope::proto::tls::suite::lookup(id).is_some_and(|x| x.cipher.is_aead());
        if let Some(i) = inside
            && aead
        {
            prop_assert_eq!(sink.gap_bytes, msgs[i].len() as u64);
        }
    }
}
