//! The sub-protocol decoders over the recorded sub-protocol captures (`captures/sub/`), through
//! a small harness of the existing pipeline pieces (source → decode → TCP reassembly → the
//! connection analyzer's WebSocket messages, collected by an `EventSink` with a large display
//! cap), checked against what the peers logged (`captures/expected/sub/`): the protocol chosen
//! and why, every unit the peers sent in order with the fields they knew, the requests answered
//! per name with their errors, and latencies no larger than the requesting peer measured.

mod common;

use serde_json::Value;
use sockscope::config::{Config, PortFilter};
use sockscope::decode::{Decoded, Decoder};
use sockscope::model::{Event, EventCtx, EventSink, HttpHead, OpCode, Record};
use sockscope::proto::conn::ConnAnalyzer;
use sockscope::proto::sub::select::{self, Verdict};
use sockscope::proto::sub::{
    ConnInfo, DecodeAs, Item, LatencyRecord, Message, SubConn, SubLimits, SubWarning,
};
use sockscope::source::{self, Next};
use sockscope::tcp::{Dir, FlowTable};
use std::collections::BTreeMap;

/// Bytes of each message kept for decoding: every message of these captures whole.
const DISPLAY: usize = 256 << 10;

#[derive(Default)]
struct FlowOut {
    target: Option<String>,
    subprotocol: Option<String>,
    conn: Option<SubConn>,
    off: Option<String>,
    tries: u32,
    messages: [u64; 2],
    items: Vec<Item>,
    warnings: Vec<SubWarning>,
    latency: Vec<LatencyRecord>,
}

#[derive(Default)]
struct Collect {
    flows: BTreeMap<u64, FlowOut>,
}

impl EventSink for Collect {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        let f = self.flows.entry(ctx.flow.id).or_default();
        match event {
            Event::HttpHead(m) => {
                if let HttpHead::Request { target, .. } = m.head {
                    f.target = Some(target.to_string());
                }
            }
            Event::Record(Record::Handshake(h)) => f.subprotocol = h.subprotocol.clone(),
            Event::Record(Record::WsMessage(m)) => {
                f.messages[m.dir.index()] += 1;
                let msg = Message {
                    dir: m.dir,
                    ts: m.ts,
                    frame: ctx.pkt.map_or(0, |p| p.frame),
                    binary: m.opcode == OpCode::Binary,
                    payload: m.data_head,
                    len: m.len,
                };
                if f.conn.is_none() && f.off.is_none() {
                    let info = ConnInfo {
                        flow: ctx.flow.id,
                        client_port: ctx.flow.client.port(),
                        server_port: ctx.flow.server.port(),
                        subprotocol: f.subprotocol.as_deref(),
                        target: f.target.as_deref(),
                    };
                    f.tries += 1;
                    match select::select(&info, &DecodeAs::default(), Some(&msg)) {
                        Verdict::Chosen(s) => f.conn = Some(SubConn::new(s, SubLimits::default())),
                        Verdict::Off(why) => f.off = Some(why),
                        Verdict::Pending if f.tries >= select::MAX_CONTENT_TRIES => {
                            f.off = Some("nothing recognised".into())
                        }
                        Verdict::Pending => {}
                    }
                }
                if let Some(conn) = &mut f.conn {
                    let out = conn.message(&msg);
                    f.items.extend(out.items);
                    f.warnings.extend(out.warnings);
                }
            }
            Event::FlowClosed { .. } => {
                if let Some(conn) = &mut f.conn {
                    let out = conn.finish(ctx.flow.last_ts, 0);
                    f.warnings.extend(out.warnings);
                    f.latency = conn
                        .latency()
                        .records(ctx.flow.id, conn.selection().protocol);
                }
            }
            _ => {}
        }
    }
}

fn analyze(capture: &str, port: u16) -> BTreeMap<u64, FlowOut> {
    let mut config = Config {
        ports: PortFilter::Ports(vec![port]),
        http_ports: vec![port],
        display_bytes: DISPLAY,
        ..Config::default()
    };
    config.limits.max_message_buffer = DISPLAY;
    let mut analyzer = ConnAnalyzer::new(&config, Collect::default());
    let mut table = FlowTable::new(&config, None);
    let mut decoder = Decoder::new();
    let path = common::captures().join(capture);
    let mut src = source::open(path.to_str().expect("path"), 1).expect("capture opens");
    loop {
        match src.next().expect("capture reads") {
            Next::Frame(frame) => {
                if let Decoded::Tcp(seg) = decoder.decode(&frame) {
                    table.process(&seg, &mut analyzer);
                }
            }
            Next::End => break,
            _ => {}
        }
    }
    table.finish(&mut analyzer);
    analyzer.sink.flows
}

fn expected(name: &str) -> Value {
    let path = common::captures().join(format!("expected/sub/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("expected file")).expect("json")
}

/// Every field of `want` is in `got` with the same value.
fn fields_match(want: &Value, got: &Value) -> bool {
    want.as_object()
        .expect("expected item is an object")
        .iter()
        .all(|(k, v)| got.get(k) == Some(v))
}

/// Decodes one capture and checks it against its expected file; returns the flow.
fn check(name: &str) -> FlowOut {
    let exp = expected(name);
    let port = exp["port"].as_u64().expect("port") as u16;
    let mut flows = analyze(exp["capture"].as_str().expect("capture"), port);
    assert_eq!(flows.len(), 1, "{name}: one flow");
    let (_, flow) = flows.pop_first().expect("a flow");
    let conn = flow
        .conn
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: no sub-protocol chosen ({:?})", flow.off));
    let sel = conn.selection();
    assert_eq!(sel.protocol.as_str(), exp["protocol"], "{name}: {sel:?}");
    assert_eq!(sel.basis.as_str(), exp["basis"], "{name}: {sel:?}");
    assert_eq!(
        flow.subprotocol.as_deref(),
        exp["subprotocol"].as_str(),
        "{name}"
    );
    assert!(flow.warnings.is_empty(), "{name}: {:#?}", flow.warnings);

    for dir in [Dir::C2S, Dir::S2C] {
        let d = dir.as_str();
        let types: Vec<&str> = exp["types"][d]
            .as_array()
            .expect("types")
            .iter()
            .map(|t| t.as_str().expect("type"))
            .collect();
        let got: Vec<Value> = flow
            .items
            .iter()
            .filter(|i| i.dir == dir)
            .map(|i| i.record.to_json())
            .filter(|j| types.contains(&j["type"].as_str().unwrap_or_default()))
            .collect();
        let want = exp["items"][d].as_array().expect("items");
        let summary = |v: &[Value]| {
            v.iter()
                .map(|j| j["type"].as_str().unwrap_or("?").to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            got.len(),
            want.len(),
            "{name} {d}: decoded [{}], the peers logged [{}]",
            summary(&got),
            summary(want)
        );
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert!(fields_match(w, g), "{name} {d} #{i}: want {w}\n got {g}");
        }
    }

    for want in exp["latency"].as_array().expect("latency") {
        let (d, n) = (want["dir"].as_str(), want["name"].as_str());
        let got = flow
            .latency
            .iter()
            .find(|r| r.dir == d && r.name.as_deref() == n)
            .unwrap_or_else(|| panic!("{name}: no latency record for {want}: {:#?}", flow.latency));
        assert_eq!(
            Some(got.count),
            want["count"].as_u64(),
            "{name}: {want} vs {got:?}"
        );
        assert_eq!(
            Some(got.errors),
            want["errors"].as_u64(),
            "{name}: {want} vs {got:?}"
        );
        let unanswered = want.get("unanswered").and_then(Value::as_u64).unwrap_or(0);
        assert_eq!(got.unanswered, unanswered, "{name}: {got:?}");
        if got.count == 0 {
            assert_eq!(got.max, None);
            continue;
        }
        let max = got.max.expect("answered requests have a max");
        assert!(max > 0.0, "{name}: {got:?}");
        assert!(got.p50 <= got.p90 && got.p90 <= got.p99 && got.p99 <= got.max);
        // Seen from the server's veth, a round trip is shorter than the requesting peer saw it.
        if let Some(peer_ms) = want["max_ms"].as_f64() {
            assert!(
                max * 1e3 <= peer_ms + 1.0,
                "{name}: {n:?} took {} ms in the capture, the peer measured at most {peer_ms} ms",
                max * 1e3
            );
        }
    }
    let total = &flow.latency[0];
    assert_eq!(total.name, None);
    let named: u64 = flow.latency[1..].iter().map(|r| r.count).sum();
    assert_eq!(total.count, named, "{name}");
    let unanswered: u64 = exp["latency"]
        .as_array()
        .expect("latency")
        .iter()
        .filter_map(|w| w.get("unanswered").and_then(Value::as_u64))
        .sum();
    assert_eq!(total.unanswered, unanswered, "{name}: {total:?}");
    assert_eq!(total.unmatched_replies, Some(0), "{name}: {total:?}");
    flow
}

#[test]
fn socketio_events_acks_and_binary_attachments() {
    let flow = check("socketio");
    let sel = flow.conn.as_ref().expect("conn").selection();
    assert_eq!(sel.engineio, Some(4));
    // The upload's ack answers the upload, after the thumbnail the server pushed meanwhile.
    let upload_ack = flow
        .items
        .iter()
        .find(|i| i.reply_to.as_ref().is_some_and(|p| p.name == "upload"))
        .expect("the upload is acknowledged");
    assert_eq!(upload_ack.record.field("type"), Some("ACK".into()));
    assert_eq!(
        flow.items[0].record.summary_at(40),
        r#"Socket.IO OPEN {"sid":"TNjZ5sj9HMBlkTz5AAAA","upgrades":[],"pingTimeout":20…"#
    );
    let chat = flow
        .items
        .iter()
        .find(|i| i.record.field("event") == Some("chat message".into()))
        .expect("chat message");
    assert_eq!(
        chat.record.summary_at(40),
        r#"Socket.IO EVENT "chat message" ack=1"#
    );
}

#[test]
fn stomp_frames_receipts_and_heartbeats() {
    let flow = check("stomp");
    for dir in [Dir::C2S, Dir::S2C] {
        assert!(
            flow.items
                .iter()
                .any(|i| i.dir == dir && i.record.field("type") == Some("HEARTBEAT".into())),
            "no heart-beat {dir:?}"
        );
    }
}

#[test]
fn mqtt_packets_over_websocket() {
    let flow = check("mqtt");
    // The 3092-byte PUBLISH and every packet: each message held whole packets here.
    assert!(
        flow.items
            .iter()
            .all(|i| i.record.field("partial").is_none())
    );
    let blob = flow
        .items
        .iter()
        .find(|i| i.dir == Dir::C2S && i.record.field("topic") == Some("sensors/blob".into()))
        .expect("blob");
    assert_eq!(
        blob.record.summary_at(40),
        format!(
            "MQTT PUBLISH topic=\"sensors/blob\" qos=1 id={}",
            blob.record.field("packet_id").expect("id")
        )
    );
}

#[test]
fn graphql_transport_ws_operations() {
    let flow = check("graphql-transport-ws");
    let boom = flow
        .latency
        .iter()
        .find(|r| r.name.as_deref() == Some("Boom"))
        .expect("Boom");
    assert_eq!(boom.errors, 1);
}

#[test]
fn jsonrpc_calls_errors_notifications_and_batches() {
    let flow = check("jsonrpc");
    let add = flow
        .latency
        .iter()
        .find(|r| r.name.as_deref() == Some("add"))
        .expect("add");
    assert_eq!(add.count, 3);
}

#[test]
fn every_sub_capture_has_a_test() {
    let dir = common::captures().join("expected/sub");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("expected/sub")
        .map(|e| e.expect("entry").path())
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "graphql-transport-ws",
            "jsonrpc",
            "mqtt",
            "socketio",
            "stomp"
        ]
    );
    for n in &names {
        assert!(
            common::captures().join(format!("sub/{n}.pcap")).exists(),
            "{n}"
        );
    }
}
