//! Fuzz target for sub-protocol selection and every text decoder: the input is split into a
//! `--decode-as` value, a `Sec-WebSocket-Protocol` value, an upgrade target and a first
//! message; the selection must never panic, and the message is then decoded by every
//! sub-protocol's decoder (each must never panic, and its records must serialize and render).
//!
//! Input layout: byte 0 bit 0: the message is binary; then three fields ended by 0x00 (rule,
//! subprotocol, target; invalid UTF-8 or an empty field means absent); the rest is the message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::proto::sub::select::{self, Verdict};
use sockscope::proto::sub::{
    Basis, ConnInfo, DecodeAs, Message, Selection, SubConn, SubLimits, SubProtocol,
};
use sockscope::tcp::Dir;
use sockscope::time::Timestamp;

fn field<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let (f, tail) = rest.split_at(end);
    *rest = tail.get(1..).unwrap_or_default();
    std::str::from_utf8(f).ok().filter(|s| !s.is_empty())
}

fuzz_target!(|data: &[u8]| {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let rule = field(&mut rest);
    let subprotocol = field(&mut rest);
    let target = field(&mut rest);
    let rules = rule
        .and_then(|r| DecodeAs::parse(&[r]).ok())
        .unwrap_or_default();
    let info = ConnInfo {
        flow: 3,
        client_port: 50000,
        server_port: 8080,
        subprotocol,
        target,
    };
    let msg = Message {
        dir: Dir::C2S,
        ts: Timestamp::ZERO,
        frame: 1,
        binary: setup & 1 == 1,
        payload: rest,
        len: rest.len() as u64,
    };
    let _ = select::select(&info, &rules, None);
    if let Verdict::Chosen(s) = select::select(&info, &rules, Some(&msg)) {
        assert!(!s.reason.is_empty());
    }
    for protocol in SubProtocol::ALL {
        let selection = Selection {
            protocol,
            basis: Basis::DecodeAs,
            reason: String::new(),
            engineio: None,
        };
        let mut conn = SubConn::new(selection, SubLimits::default());
        for dir in [Dir::C2S, Dir::S2C] {
            let m = Message { dir, ..msg };
            for item in conn.message(&m).items {
                let _ = item.record.to_json();
                let _ = item.record.summary_at(40);
                let mut text = String::new();
                item.record.details().render(0, &mut text);
            }
        }
        let _ = conn.finish(Timestamp::ZERO, 2);
    }
});
