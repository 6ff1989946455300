//! Evaluating a compiled filter allocates nothing: a counting allocator watches every
//! `Filter::matches` over records that carry every kind of value. It counts the allocations of
//! the evaluating thread only, as the test harness allocates on its own threads meanwhile.

use sockscope::filter::{FieldId, FieldSource, Filter, RecordType, Value};
use sockscope::time::Timestamp;
use std::ops::ControlFlow;

#[path = "common/counting.rs"]
mod counting;

use counting::{Counting, allocations};

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Frame {
    text: &'static str,
}

impl FieldSource for Frame {
    fn record_type(&self) -> RecordType {
        RecordType::WsFrame
    }

    fn values(
        &self,
        field: FieldId,
        _key: Option<&str>,
        each: &mut dyn FnMut(Value<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        match field {
            FieldId::Ws => each(Value::Present),
            FieldId::WsOpcode => each(Value::Sym("text")),
            FieldId::WsText => each(Value::Str(self.text)),
            FieldId::WsPayload => each(Value::Bytes(self.text.as_bytes())),
            FieldId::WsPayloadLen => each(Value::Int(self.text.len() as i128)),
            FieldId::WsFin => each(Value::Bool(true)),
            FieldId::WsMask => each(Value::Bytes(&[0xa1, 0xb2, 0xc3, 0xd4])),
            FieldId::IpAddr => {
                each(Value::Addr([10, 0, 0, 1].into()))?;
                each(Value::Addr([192, 0, 2, 80].into()))
            }
            FieldId::TcpPort => {
                each(Value::Int(51000))?;
                each(Value::Int(80))
            }
            FieldId::FrameTime => each(Value::Time(Timestamp(1_714_557_600_000_000_000))),
            FieldId::FlowKind => each(Value::Sym("websocket")),
            _ => ControlFlow::Continue(()),
        }
    }
}

#[test]
fn matching_allocates_nothing() {
    let filters: Vec<Filter> = [
        "ws.opcode == text && ws.text contains \"error\"",
        "ws.text matches \"^an? (error|warning)\" || ws.payload contains 00:ff",
        "tcp.port in {443, 8000..8100} || ip.addr == 192.0.2.0/24",
        "!(ws.payload_len > 65535) && ws.fin && ws.mask == a1:b2:c3:d4",
        "frame.time >= 2024-05-01 && flow.kind != sse && ws.opcode >= text",
        "http.status >= 500 || anomaly.severity >= warning",
    ]
    .iter()
    .map(|f| Filter::new(f).unwrap_or_else(|e| panic!("{e}")))
    .collect();
    let frames = [
        Frame {
            text: "an error occurred",
        },
        Frame {
            text: "all is well",
        },
    ];
    // Warm up (a regex may fill its cache on first use).
    let mut hits = 0u32;
    for f in &filters {
        for r in &frames {
            hits += u32::from(f.matches(r));
        }
    }
    let before = allocations();
    for _ in 0..1000 {
        for f in &filters {
            for r in &frames {
                hits += u32::from(f.matches(r));
            }
        }
    }
    let allocated = allocations() - before;

    assert_eq!(allocated, 0, "evaluation allocated {allocated} times");
    assert_eq!(hits, 1001 * 8);
}

#[test]
fn matching_the_models_records_allocates_nothing() {
    use sockscope::filter::OwnFields;
    use sockscope::model::{
        Anomaly, Code, Digest, FlowFacts, FlowKind, FlowSummary, Header, HttpHead, HttpMessage,
        InFlow, Layers, OpCode, WsFrame, WsMessage,
    };
    use sockscope::tcp::{CloseHow, Dir, FlowMeta, RoleBasis};
    let meta = FlowMeta::new(
        1,
        "10.0.0.1:51000".parse().unwrap(),
        "192.0.2.80:80".parse().unwrap(),
        RoleBasis::Syn,
        Timestamp(1_714_557_600_000_000_000),
    );
    let summary = FlowSummary {
        kind: Some(FlowKind::WebSocket),
        ping_rtts: vec![0.001],
        ..FlowSummary::default()
    };
    let headers = [
        Header {
            name: "Host",
            value: b"example.org",
        },
        Header {
            name: "Content-Type",
            value: b"application/json",
        },
    ];
    let http = HttpMessage {
        dir: Dir::S2C,
        start_ts: Timestamp(1_714_557_600_000_000_000),
        ts: Timestamp(1_714_557_600_000_000_000),
        head: HttpHead::Response {
            version: 1,
            status: 503,
            reason: "Service Unavailable",
        },
        headers: &headers,
        header_bytes: 90,
        body_bytes: 20,
        framing_bytes: 0,
        chunked: false,
        upgrade: None,
        body_head: b"{\"error\": \"down\"}",
        raw_head: b"",
        complete: true,
        digest: Digest::Off,
        exchange: Some(0),
    };
    let frame = WsFrame {
        dir: Dir::C2S,
        ts: Timestamp(1_714_557_601_000_000_000),
        first_frame: 9,
        fin: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: OpCode::Text,
        mask: Some([0xa1, 0xb2, 0xc3, 0xd4]),
        payload_len: 17,
        header: &[0x81, 0x91, 0xa1, 0xb2, 0xc3, 0xd4],
        payload_head: b"an error occurred",
        close_code: None,
        close_reason: None,
        deflate: false,
    };
    let message = WsMessage {
        dir: Dir::C2S,
        ts: Timestamp(1_714_557_601_000_000_000),
        opcode: OpCode::Text,
        frames: 1,
        wire_len: 17,
        len: 17,
        compressed: false,
        valid_utf8: Some(true),
        data_head: b"an error occurred",
        digest: Digest::Off,
        sub: &[],
        sub_choice: None,
    };
    let anomaly = Anomaly {
        code: Code::TcpGap,
        dir: Some(Dir::S2C),
        ts: Timestamp(1_714_557_602_000_000_000),
        detail: "3 bytes missing".into(),
    };
    let facts = FlowFacts {
        meta: &meta,
        summary: &summary,
        how: CloseHow::Fin,
    };
    let owns: [&dyn OwnFields; 5] = [&http, &frame, &message, &anomaly, &facts];
    let records: Vec<InFlow<'_>> = owns
        .iter()
        .map(|own| InFlow {
            own: *own,
            flow: Some(&meta),
            kind: summary.kind,
            frame: Some(9),
            layers: Layers::default(),
        })
        .collect();
    let filters: Vec<Filter> = [
        "ws.opcode == text && ws.text contains \"error\"",
        "http.status >= 500 && http.header contains \"Host: example\" && http.body contains \"error\"",
        "http.header.content-type matches \"json$\" || http.host == example.org",
        "anomaly.severity >= warning && dir == s2c",
        "flow.kind == websocket && flow.ping_rtt_ms < 2 && flow.duration >= 0",
        "tcp.port in {80, 443} && ip.addr == 10.0.0.0/8 && tcp.stream == 0",
        "ws.message.valid_utf8 || ws.mask == a1:b2:c3:d4 && frame.number == 9",
    ]
    .iter()
    .map(|f| Filter::new(f).unwrap_or_else(|e| panic!("{e}")))
    .collect();
    let mut hits = 0u32;
    for f in &filters {
        for r in &records {
            hits += u32::from(f.matches(r));
        }
    }
    let warm = hits;
    let before = allocations();
    for _ in 0..1000 {
        for f in &filters {
            for r in &records {
                hits += u32::from(f.matches(r));
            }
        }
    }
    let allocated = allocations() - before;
    assert_eq!(allocated, 0, "evaluation allocated {allocated} times");
    assert!(warm >= 9, "{warm} matches");
    assert_eq!(hits, warm * 1001);
}
