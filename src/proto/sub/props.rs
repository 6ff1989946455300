//! Property tests of the sub-protocol parsers: MQTT packets decode the same however the
//! stream is cut into messages; Socket.IO and STOMP units written by a small encoder parse
//! back to what was written; hostile bytes never break the bounds; latency percentiles are
//! ordered and within the samples.

use super::latency::{Role, Tracker};
use super::mqtt::{FixedHeader, MqttConn};
use super::socketio::parse_socketio;
use super::stomp::parse_frame;
use super::{Item, Output, SubProtocol, SubRecord};
use crate::tcp::Dir;
use crate::time::Timestamp;
use proptest::prelude::*;

fn remaining_length(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let b = (n % 128) as u8;
        n /= 128;
        out.push(if n > 0 { b | 0x80 } else { b });
        if n == 0 {
            break;
        }
    }
}

fn mqtt_string(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// MQTT 3.1.1 packets a peer could send.
fn mqtt_packet() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (
            "[a-z/#+]{1,20}",
            0u8..3,
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<bool>()
        )
            .prop_map(|(topic, qos, id, payload, retain)| {
                let mut body = Vec::new();
                mqtt_string(&topic, &mut body);
                if qos > 0 {
                    body.extend_from_slice(&id.max(1).to_be_bytes());
                }
                body.extend_from_slice(&payload);
                let mut p = vec![0x30 | (qos << 1) | u8::from(retain)];
                remaining_length(body.len(), &mut p);
                p.extend_from_slice(&body);
                p
            }),
        (4u8..8, any::<u16>()).prop_map(|(t, id)| {
            let flags = if t == 6 { 2 } else { 0 };
            let mut p = vec![(t << 4) | flags, 2];
            p.extend_from_slice(&id.to_be_bytes());
            p
        }),
        ("[a-z/#+]{1,20}", any::<u16>(), 0u8..3).prop_map(|(topic, id, qos)| {
            let mut body = id.max(1).to_be_bytes().to_vec();
            mqtt_string(&topic, &mut body);
            body.push(qos);
            let mut p = vec![0x82];
            remaining_length(body.len(), &mut p);
            p.extend_from_slice(&body);
            p
        }),
        Just(vec![0xc0, 0x00]),
        Just(vec![0xd0, 0x00]),
    ]
}

fn feed(conn: &mut MqttConn, dir: Dir, frame: u64, payload: &[u8]) -> Output {
    let len = payload.len() as u64;
    super::run_one(dir, true, payload, len, frame, |s| conn.decode(s))
}

/// The records without the message count (which depends on the cut, by design).
fn plain(items: Vec<Item>) -> Vec<SubRecord> {
    items
        .into_iter()
        .map(|i| match *i.record {
            SubRecord::Mqtt(mut r) => {
                r.messages = None;
                SubRecord::Mqtt(r)
            }
            other => other,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mqtt_decodes_the_same_however_the_stream_is_cut(
        packets in proptest::collection::vec(mqtt_packet(), 1..12),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let stream: Vec<u8> = packets.concat();
        let mut alone = MqttConn::new(1 << 16);
        let mut want = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            let out = feed(&mut alone, Dir::C2S, i as u64, p);
            prop_assert!(out.warnings.is_empty(), "{:?}", out.warnings);
            want.extend(plain(out.items));
        }
        prop_assert_eq!(want.len(), packets.len());
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        at.push(0);
        at.push(stream.len());
        at.sort_unstable();
        let mut cut = MqttConn::new(1 << 16);
        let mut got = Vec::new();
        for (i, w) in at.windows(2).enumerate() {
            let out = feed(&mut cut, Dir::C2S, i as u64, &stream[w[0]..w[1]]);
            prop_assert!(out.warnings.is_empty(), "{:?}", out.warnings);
            got.extend(plain(out.items));
        }
        prop_assert_eq!(got, want);
        prop_assert!(cut.held_bytes() <= 4096);
    }

    #[test]
    fn mqtt_hostile_bytes_stay_within_the_cap(
        messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20),
        cap in 16usize..512,
    ) {
        let mut conn = MqttConn::new(cap);
        for (i, m) in messages.iter().enumerate() {
            let dir = if i % 3 == 0 { Dir::S2C } else { Dir::C2S };
            let _ = feed(&mut conn, dir, i as u64, m);
            prop_assert!(conn.held_bytes() <= 2 * (cap + 5).max(4096));
        }
    }

    #[test]
    fn mqtt_fixed_header_never_reads_past_its_input(b in proptest::collection::vec(any::<u8>(), 0..8)) {
        if let Ok(Some(h)) = FixedHeader::parse(&b) {
            prop_assert!(h.header_len <= b.len() && h.header_len <= 5);
        }
    }

    #[test]
    fn socketio_packets_parse_back(
        kind in prop::sample::select(vec![2u8, 3, 5, 6]),
        ns in prop::option::of("/[a-z]{1,8}"),
        ack in prop::option::of(0u64..1_000_000),
        event in "[ -~]{0,16}",
        args in proptest::collection::vec(any::<i32>(), 0..4),
        attachments in 1u64..4,
    ) {
        let mut s = kind.to_string();
        if kind >= 5 {
            s.push_str(&format!("{attachments}-"));
        }
        if let Some(ns) = &ns {
            s.push_str(ns);
            s.push(',');
        }
        if let Some(a) = ack {
            s.push_str(&a.to_string());
        }
        let mut data: Vec<serde_json::Value> = Vec::new();
        if kind == 2 || kind == 5 {
            data.push(event.clone().into());
        }
        data.extend(args.iter().map(|&a| serde_json::Value::from(a)));
        if data.is_empty() {
            data.push(serde_json::Value::Null);
        }
        s.push_str(&serde_json::Value::Array(data.clone()).to_string());
        let r = parse_socketio(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(r.namespace.as_deref(), Some(ns.as_deref().unwrap_or("/")));
        prop_assert_eq!(r.ack, ack);
        prop_assert_eq!(r.attachments, (kind >= 5).then_some(attachments));
        if kind == 2 || kind == 5 {
            prop_assert_eq!(r.event.as_deref(), Some(event.as_str()));
            prop_assert_eq!(r.data, Some(serde_json::Value::Array(data[1..].to_vec())));
        } else {
            prop_assert_eq!(r.data, Some(serde_json::Value::Array(data)));
        }
    }

    #[test]
    fn stomp_frames_parse_back(
        command in prop::sample::select(vec!["SEND", "MESSAGE", "SUBSCRIBE", "ERROR"]),
        headers in proptest::collection::vec(("[a-z][a-z-]{0,10}", "[ -~\n\r:\\\\]{0,20}"), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..100),
        crlf in any::<bool>(),
    ) {
        let esc = |s: &str| s.replace('\\', "\\\\").replace('\r', "\\r").replace('\n', "\\n").replace(':', "\\c");
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut f = format!("{command}{eol}").into_bytes();
        for (n, v) in &headers {
            f.extend_from_slice(format!("{}:{}{eol}", esc(n), esc(v)).as_bytes());
        }
        f.extend_from_slice(format!("content-length:{}{eol}{eol}", body.len()).as_bytes());
        f.extend_from_slice(&body);
        f.push(0);
        let (r, rest) = parse_frame(&f).map_err(TestCaseError::fail)?;
        prop_assert!(rest.is_empty());
        prop_assert_eq!(&r.command, command);
        prop_assert_eq!(r.body_len, body.len());
        prop_assert_eq!(r.headers.len(), headers.len() + 1);
        for ((n, v), [pn, pv]) in headers.iter().zip(&r.headers) {
            prop_assert_eq!(n, pn);
            if n != "passcode" {
                prop_assert_eq!(v, pv);
            }
        }
    }

    #[test]
    fn latency_percentiles_are_ordered_and_within_the_samples(
        lat in proptest::collection::vec(0i64..10_000_000_000, 1..300),
    ) {
        let mut t = Tracker::new(1024, 4);
        for (i, &l) in lat.iter().enumerate() {
            let key = i.to_string();
            t.on_role(Dir::C2S, Timestamp(0), i as u64, Role::Request { key: key.clone(), name: "m".into() });
            t.on_role(Dir::S2C, Timestamp(l), i as u64, Role::Reply { key, error: false });
        }
        let s = t.stats(Dir::C2S, "m").expect("stats");
        let min = *lat.iter().min().expect("samples") as u64;
        let max = *lat.iter().max().expect("samples") as u64;
        let p: Vec<u64> = [50.0, 90.0, 99.0, 100.0].iter().map(|&q| s.percentile(q).expect("answered")).collect();
        prop_assert!(p.windows(2).all(|w| w[0] <= w[1]), "{:?}", p);
        prop_assert_eq!(p[3], max);
        prop_assert!(p[0] as f64 >= min as f64 * (1.0 - 1.0 / 16.0));
        let records = t.records(1, SubProtocol::JsonRpc);
        prop_assert_eq!(records[0].count, lat.len() as u64);
    }
}
