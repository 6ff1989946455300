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
