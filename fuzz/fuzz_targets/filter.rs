//! Display filters from arbitrary text: compiling never panics; an error points inside the
//! text and renders its caret; a filter that compiles prints a canonical text that compiles
//! again to the same canonical text, and evaluates (without panicking) on records of every type.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::filter::Filter;
use sockscope::filter::json::{FlowContext, JsonRecord};
use std::sync::OnceLock;

fn records() -> &'static [serde_json::Value] {
    static R: OnceLock<Vec<serde_json::Value>> = OnceLock::new();
    R.get_or_init(|| {
        [
            r#"{"type":"http","flow":1,"dir":"c2s","ts":1.5,"frame":4,"kind":"request","method":"GET","target":"/chat","version":"HTTP/1.1","status":null,"reason":null,"headers":[["Host","a"],["Upgrade","websocket"]],"header_bytes":90,"body_bytes":0,"framing_bytes":0,"chunked":false,"upgrade":"websocket","complete":true,"preview":""}"#,
            r#"{"type":"handshake","flow":1,"ts":1.6,"key":"k","accept":"a","expected_accept":"a","accept_valid":true,"version":"13","subprotocol":"chat","extensions":["permessage-deflate"],"deflate":true,"origin":null}"#,
            r#"{"type":"ws_frame","flow":1,"dir":"c2s","ts":2.0,"frame":9,"fin":true,"rsv1":false,"rsv2":false,"rsv3":false,"opcode":"text","opcode_num":1,"masked":true,"mask":"a1b2c3d4","payload_len":5,"header_len":6,"close_code":null,"close_reason":null,"preview":"hello"}"#,
            r#"{"type":"ws_message","flow":1,"dir":"s2c","ts":2.1,"opcode":"binary","frames":2,"wire_len":4,"len":4,"compressed":false,"valid_utf8":null,"preview":"00ff10ab"}"#,
            r#"{"type":"sse_event","flow":2,"ts":3.0,"event":"tick","id":"7","preview":"data"}"#,
            r#"{"type":"anomaly","flow":null,"dir":null,"ts":3.5,"frame":12,"severity":"warning","code":"tcp.gap","detail":"3 bytes"}"#,
            r#"{"type":"flow","id":1,"client":"[::1]:5000","server":"10.0.0.1:80","kind":"websocket","first_ts":1.0,"last_ts":4.0,"packets":12,"bytes_c2s":10,"bytes_s2c":20,"ws_frames":2,"ws_messages":1,"http_messages":2,"sse_events":0,"polling":false,"anomalies":0,"handshake_complete":true,"closed":"fin","end":"fin","gaps":0,"ping_rtt_ms":1.5}"#,
        ]
        .iter()
        .map(|s| serde_json::from_str(s).expect("JSON"))
        .collect()
    })
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
            let ctx = FlowContext {
                client: "[::1]:5000".parse().ok(),
                server: "10.0.0.1:80".parse().ok(),
                kind: Some("websocket".into()),
            };
            for r in records() {
                if let Some(rec) = JsonRecord::new(r, Some(&ctx)) {
                    std::hint::black_box(f.matches(&rec));
                }
            }
        }
        Err(e) => {
            assert!(e.offset() <= text.len());
            std::hint::black_box(e.to_string());
        }
    }
});
