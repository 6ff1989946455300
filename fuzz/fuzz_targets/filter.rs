//! Display filters from arbitrary text: compiling never panics; an error points inside the
//! text and renders its caret; a filter that compiles prints a canonical text that compiles
//! again to the same canonical text, and evaluates (without panicking) on records of every type.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::filter::Filter;
use sockscope::filter::OwnFields;
use sockscope::model::{
    Anomaly, Code, Digest, FlowFacts, FlowKind, FlowSummary, Handshake, Header, HttpHead,
    HttpMessage, InFlow, Layers, OpCode, SseEvent, WsFrame, WsMessage,
};
use sockscope::tcp::{CloseHow, Dir, FlowMeta, RoleBasis};
use sockscope::time::Timestamp;

/// Calls `each` with one record of every type, in its flow.
fn with_records(each: &mut dyn FnMut(&InFlow<'_>)) {
    let meta = FlowMeta::new(
        1,
        "[::1]:5000".parse().expect("address"),
        "10.0.0.1:80".parse().expect("address"),
        RoleBasis::Syn,
        Timestamp::from_secs_nanos(1, 0),
    );
    let summary = FlowSummary {
        kind: Some(FlowKind::WebSocket),
        ping_rtts: vec![0.0015],
        ..FlowSummary::default()
    };
    let headers = [
        Header { name: "Host", value: b"a" },
        Header { name: "Upgrade", value: b"websocket" },
    ];
    let http = HttpMessage {
        dir: Dir::C2S,
        start_ts: Timestamp::from_secs_nanos(1, 500_000_000),
        ts: Timestamp::from_secs_nanos(1, 500_000_000),
        head: HttpHead::Request { method: "GET", target: "/chat", version: 1 },
        headers: &headers,
        header_bytes: 90,
        body_bytes: 0,
        framing_bytes: 0,
        chunked: false,
        upgrade: Some("websocket"),
        body_head: b"",
        raw_head: b"",
        complete: true,
        digest: Digest::Off,
        exchange: Some(0),
    };
    let handshake = Handshake {
        key: Some("k".into()),
        accept: Some("a".into()),
        expected_accept: Some("a".into()),
        accept_valid: true,
        version: Some("13".into()),
        subprotocol: Some("chat".into()),
        extensions: vec!["permessage-deflate".into()],
        ..Handshake::default()
    };
    let frame = WsFrame {
        dir: Dir::C2S,
        ts: Timestamp::from_secs_nanos(2, 0),
        first_frame: 9,
        fin: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: OpCode::Text,
        mask: Some([0xa1, 0xb2, 0xc3, 0xd4]),
        payload_len: 5,
        header: &[0x81, 0x85, 0xa1, 0xb2, 0xc3, 0xd4],
        payload_head: b"hello",
        close_code: None,
        close_reason: None,
        deflate: false,
    };
    let message = WsMessage {
        dir: Dir::S2C,
        ts: Timestamp::from_secs_nanos(2, 100),
        opcode: OpCode::Binary,
        frames: 2,
        wire_len: 4,
        len: 4,
        compressed: false,
        valid_utf8: None,
        data_head: &[0, 0xff, 0x10, 0xab],
        digest: Digest::Off,
        sub: &[],
        sub_choice: None,
    };
    let sse = SseEvent {
        ts: Timestamp::from_secs_nanos(3, 0),
        event: Some("tick"),
        id: Some("7"),
        data: b"data",
        len: 4,
    };
    let anomaly = Anomaly {
        code: Code::TcpGap,
        dir: None,
        ts: Timestamp::from_secs_nanos(3, 500),
        detail: "3 bytes".into(),
    };
    let facts = FlowFacts { meta: &meta, summary: &summary, how: CloseHow::Fin };
    let owns: [&dyn OwnFields; 7] =
        [&http, &handshake, &frame, &message, &sse, &anomaly, &facts];
    for own in owns {
        each(&InFlow {
            own,
            flow: Some(&meta),
            kind: summary.kind,
            frame: Some(4),
            layers: Layers::default(),
        });
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Filter::new(text) {
        Ok(f) => {
            let canonical = f.canonical();
            let again = Filter::new(&canonical)
                .unwrap_or_else(|e| panic!("canonical text {canonical:?} refused: {e}"));
            assert_eq!(again.canonical(), canonical);
            assert_eq!(f.expr().to_string(), sockscope::filter::parse::parse(&f.expr().to_string()).map(|e| e.to_string()).unwrap_or_default());
            with_records(&mut |rec| {
                std::hint::black_box(f.matches(rec));
            });
        }
        Err(e) => {
            assert!(e.offset() <= text.len());
            std::hint::black_box(e.to_string());
        }
    }
});
