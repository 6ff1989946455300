//! Sub-protocols end to end, through the built binary, on the captures recorded from real
//! libraries (`captures/sub/`): the `sub` objects of the `ws_message` records against what the
//! peers logged (`captures/expected/sub/`, the same files `tests/sub_captures.rs` checks the
//! decoders against), the `latency` records against the requests the peers made and the time
//! the requesting peer measured, the flow record's choice, the summary lines, the latency table
//! and `--decode-as`.

mod common;

use common::{Report, sockscope};
use serde_json::Value;

fn expected(name: &str) -> Value {
    let path = common::captures().join(format!("expected/sub/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("expected file")).expect("json")
}

fn port_of(exp: &Value) -> String {
    exp["port"].as_u64().expect("port").to_string()
}

fn capture_of(exp: &Value) -> String {
    common::captures()
        .join(exp["capture"].as_str().expect("capture"))
        .to_string_lossy()
        .into_owned()
}

/// The decoder's field as the `sub` object names it: graphql's operation name is `operation`
/// there (the filter catalog's name), a JSON-RPC id is a string with the id as sent in `id_json`.
fn field<'v>(sub: &'v Value, key: &str) -> Option<&'v Value> {
    match key {
        "operation_name" => sub.get("operation"),
        "operation"
            if sub["protocol"]
                .as_str()
                .is_some_and(|p| p.starts_with("graphql")) =>
        {
            sub.get("operation_type")
        }
        "id" if sub["protocol"] == "json-rpc" => sub.get("id_json"),
        _ => sub.get(key),
    }
}

/// Every unit of every message of the flow, in order, per direction.
fn units(r: &Report, dir: &str) -> Vec<Value> {
    r.of_flow("ws_message", 1)
        .into_iter()
        .filter(|m| m["dir"] == dir)
        .flat_map(|m| {
            let mut all: Vec<Value> = m.get("sub").cloned().into_iter().collect();
            if let Some(Value::Array(more)) = m.get("sub_more") {
                all.extend(more.iter().cloned());
            }
            all
        })
        .collect()
}

fn check(name: &str) -> Report {
    let exp = expected(name);
    let port = port_of(&exp);
    let r = sockscope(&["read", "--json", "-p", &port, &capture_of(&exp)]).report();
    assert!(r.codes().is_empty(), "{name}: {:?}", r.codes());

    let flow = r.flows()[&1];
    assert_eq!(flow["sub"]["protocol"], exp["protocol"], "{name}: {flow}");
    assert_eq!(flow["sub"]["basis"], exp["basis"], "{name}: {flow}");

    for dir in ["c2s", "s2c"] {
        let types: Vec<&str> = exp["types"][dir]
            .as_array()
            .expect("types")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let got: Vec<Value> = units(&r, dir)
            .into_iter()
            .filter(|u| types.contains(&u["type"].as_str().unwrap_or_default()))
            .collect();
        let want = exp["items"][dir].as_array().expect("items");
        assert_eq!(got.len(), want.len(), "{name} {dir}: {got:#?}");
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert_eq!(g["protocol"], exp["protocol"], "{name} {dir} #{i}");
            for (k, v) in w.as_object().expect("object") {
                assert_eq!(field(g, k), Some(v), "{name} {dir} #{i} {k}: got {g}");
            }
            // The filter catalog's fields are typed as it says.
            if let Some(id) = g.get("id") {
                assert!(id.is_string(), "{name}: sub.id {id} is not a string");
            }
            if let Some(q) = g.get("qos") {
                assert!(q.is_u64(), "{name}: sub.qos {q}");
            }
        }
    }

    let latency: Vec<&Value> = r.of_flow("latency", 1);
    assert_eq!(
        latency[0]["name"],
        Value::Null,
        "{name}: the connection first"
    );
    for want in exp["latency"].as_array().expect("latency") {
        let got = latency
            .iter()
            .find(|l| l["name"] == want["name"] && l["dir"] == want["dir"])
            .unwrap_or_else(|| panic!("{name}: no latency record for {want}"));
        assert_eq!(got["count"], want["count"], "{name}: {got}");
        assert_eq!(got["errors"], want["errors"], "{name}: {got}");
        let unanswered = want.get("unanswered").and_then(Value::as_u64).unwrap_or(0);
        assert_eq!(
            got["unanswered"].as_u64(),
            Some(unanswered),
            "{name}: {got}"
        );
        if got["count"] == 0 {
            continue;
        }
        let p: Vec<f64> = ["p50", "p90", "p99", "max"]
            .iter()
            .map(|k| got[*k].as_f64().expect("a latency"))
            .collect();
        assert!(
            p[0] > 0.0 && p.windows(2).all(|w| w[0] <= w[1]),
            "{name}: {got}"
        );
        // Seen where the capture was taken, a round trip is no longer than the peer saw it.
        if let Some(peer_ms) = want["max_ms"].as_f64() {
            assert!(p[3] * 1e3 <= peer_ms + 1.0, "{name}: {got} vs {peer_ms} ms");
        }
    }
    // The latency records come before the flow record (the flow record is the flow's last).
    let lines: Vec<&str> = r
        .records
        .iter()
        .map(|l| l["type"].as_str().unwrap_or(""))
        .collect();
    let last_latency = lines
        .iter()
        .rposition(|t| *t == "latency")
        .expect("latency");
    let flow_at = lines.iter().position(|t| *t == "flow").expect("flow");
    assert!(last_latency < flow_at, "{name}: {lines:?}");
    r
}

fn text(args: &[&str]) -> String {
    let run = sockscope(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    run.stdout
}

#[test]
fn socketio_through_the_binary() {
    let r = check("socketio");
    assert_eq!(r.flows()[&1]["sub"]["engineio"], 4);
    let out = text(&["read", "captures/sub/socketio.pcap"]);
    for line in [
        r#"Socket.IO EVENT "chat message" ack=1"#,
        r#"Socket.IO ACK ack=1 ["ok",5]"#,
        r#"Socket.IO BINARY_EVENT "upload" ack=4 attachments=1"#,
        "Socket.IO ATTACHMENT 1/1 (2048 bytes)",
    ] {
        assert!(out.contains(line), "no {line:?} in\n{out}");
    }
    assert!(out.contains("Application latency"), "{out}");
}

#[test]
fn stomp_through_the_binary() {
    check("stomp");
    let out = text(&["read", "-p", "15674", "captures/sub/stomp.pcap"]);
    assert!(
        out.contains(r#"STOMP SEND "/queue/sockscope" receipt="send-1""#),
        "{out}"
    );
    assert!(out.contains("STOMP HEARTBEAT"), "{out}");
}

#[test]
fn mqtt_through_the_binary() {
    let r = check("mqtt");
    let publish = units(&r, "c2s")
        .into_iter()
        .find(|u| u["topic"] == "sensors/blob")
        .expect("the blob");
    assert_eq!(publish["qos"], 1);
    let out = text(&["read", "-p", "15675", "captures/sub/mqtt.pcap"]);
    let id = publish["id"].as_str().expect("id");
    let line = format!(r#"MQTT PUBLISH topic="sensors/blob" qos=1 id={id}"#);
    assert!(out.contains(&line), "no {line:?} in\n{out}");
}

#[test]
fn graphql_transport_ws_through_the_binary() {
    check("graphql-transport-ws");
    let v = text(&["read", "-V", "captures/sub/graphql-transport-ws.pcap"]);
    assert!(
        v.contains(
            "Sub-protocol: graphql-transport-ws (Sec-WebSocket-Protocol: graphql-transport-ws)"
        ),
        "{v}"
    );
}

#[test]
fn summary_lines_cut_names_at_snap_preview_and_values_at_half_as_much_again() {
    let capture = "captures/sub/graphql-transport-ws.pcap";
    let id = "361181b0-3e09-45ea-bdbb-64c797b228f6";
    let whole = format!(r#"next id="{id}" {{"data":{{"hello":"Hello, sockscope!"}}}}"#);
    for (args, line) in [
        (vec![], whole.clone()),
        (vec!["--snap-preview", "100"], whole),
        (
            vec!["--snap-preview", "10"],
            r#"next id="361181b0-3"… {"data":{"hello… (108 B)"#.to_string(),
        ),
    ] {
        let mut all = vec!["read"];
        all.extend(args.iter().copied());
        all.push(capture);
        let out = text(&all);
        assert!(out.contains(&line), "{args:?}: no {line:?} in\n{out}");
    }
}

#[test]
fn jsonrpc_through_the_binary() {
    let r = check("jsonrpc");
    // A batch: one message, two units.
    let batch = r
        .of_flow("ws_message", 1)
        .into_iter()
        .find(|m| m.get("sub_more").is_some())
        .expect("a batch");
    assert_eq!(batch["sub"]["batch"], serde_json::json!([1, 2]));
    let out = text(&["read", "-q", "captures/sub/jsonrpc.pcap"]);
    let table = out
        .split("Application latency")
        .nth(1)
        .expect("a latency table");
    for name in ["add", "echo", "missing", "divide"] {
        assert!(table.contains(name), "{name} not in\n{table}");
    }
}

#[test]
fn decode_as_outranks_the_url_and_content_but_not_a_negotiated_name() {
    // socket.io's upgrade URL names Socket.IO; a rule says JSON.
    let r = sockscope(&[
        "read",
        "--json",
        "--decode-as",
        "port:80=json",
        "captures/sub/socketio.pcap",
    ])
    .report();
    let sub = &r.flows()[&1]["sub"];
    assert_eq!(sub["protocol"], "json");
    assert_eq!(sub["basis"], "decode-as");
    assert_eq!(sub["reason"], "--decode-as port:80=json");
    // graphql-transport-ws was negotiated: a rule for every flow does not change it.
    let r = sockscope(&[
        "read",
        "--json",
        "--decode-as",
        "stomp",
        "captures/sub/graphql-transport-ws.pcap",
    ])
    .report();
    assert_eq!(r.flows()[&1]["sub"]["basis"], "subprotocol");
    // `none` turns decoding off: no sub objects, no latency, the flow says why.
    let r = sockscope(&[
        "read",
        "--json",
        "--decode-as",
        "flow:1=none",
        "captures/sub/socketio.pcap",
    ])
    .report();
    assert!(
        r.of_flow("ws_message", 1)
            .iter()
            .all(|m| m.get("sub").is_none())
    );
    assert!(r.of_flow("latency", 1).is_empty());
    let sub = &r.flows()[&1]["sub"];
    assert_eq!(sub["protocol"], Value::Null);
    assert_eq!(sub["reason"], "--decode-as flow:1=none");
}

#[test]
fn decode_as_refuses_what_it_cannot_read() {
    for (bad, says) in [
        ("mqqt", "unknown sub-protocol 'mqqt'"),
        ("port:x=mqtt", "is not port:N, port:N-M or flow:N"),
        ("flow:=stomp", "is not port:N, port:N-M or flow:N"),
    ] {
        let run = sockscope(&["read", "--decode-as", bad, "captures/sub/socketio.pcap"]);
        assert_eq!(run.code, 2, "--decode-as {bad}");
        assert!(
            run.stderr.contains(says),
            "--decode-as {bad}: {}",
            run.stderr
        );
    }
}

#[test]
fn decode_as_is_in_the_help_of_read_live_and_report() {
    for cmd in ["read", "live", "report"] {
        let out = text(&[cmd, "--help"]);
        assert!(out.contains("--decode-as"), "{cmd} --help:\n{out}");
    }
    let man = text(&["man", "read"]);
    assert!(man.contains("decode\\-as"), "{man}");
    let bash = text(&["completions", "bash"]);
    assert!(bash.contains("--decode-as"));
}

/// MQTT over WebSocket is a byte stream: a packet may span binary messages, and one message
/// may hold several packets (MQTT 3.1.1 §6, MQTT 5.0 §6). Crafted: the recorded peers send
/// one packet per message.
#[test]
fn mqtt_packets_split_across_and_joined_within_messages() {
    use common::{
        C2S, CLIENT, LINKTYPE_ETHERNET, PcapWriter, S2C, SERVER, TcpConn, upgrade_request,
        upgrade_response, ws_frame,
    };
    let with_mqtt = |mut head: Vec<u8>| {
        head.truncate(head.len() - 2);
        head.extend_from_slice(b"Sec-WebSocket-Protocol: mqtt\r\n\r\n");
        head
    };
    let connect: &[u8] = &[
        0x10, 0x0c, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00,
    ];
    let connack_and_publish: &[u8] = &[
        0x20, 0x02, 0x00, 0x00, // CONNACK
        0x32, 0x07, 0x00, 0x01, b't', 0x00, 0x05, b'h', b'i', // PUBLISH QoS 1, id 5
    ];
    let puback: &[u8] = &[0x40, 0x02, 0x00, 0x05];
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    let mut c = TcpConn::new(CLIENT, SERVER);
    c.handshake(&mut w);
    c.send(&mut w, C2S, &with_mqtt(upgrade_request(None)));
    c.send(&mut w, S2C, &with_mqtt(upgrade_response(None)));
    c.send(&mut w, C2S, &ws_frame(true, false, 2, true, &connect[..5]));
    c.send(&mut w, C2S, &ws_frame(true, false, 2, true, &connect[5..]));
    c.send(
        &mut w,
        S2C,
        &ws_frame(true, false, 2, false, connack_and_publish),
    );
    c.send(&mut w, C2S, &ws_frame(true, false, 2, true, puback));
    c.fin(&mut w);
    let (_dir, path) = common::temp_file("mqtt-split.pcap", w.bytes());
    let r = sockscope(&["read", "--json", path.to_str().expect("path")]).report();
    assert!(r.codes().is_empty(), "{:?}", r.codes());

    let msgs = r.of_flow("ws_message", 1);
    assert_eq!(msgs.len(), 4);
    // The first half of CONNECT completes nothing; the second completes it.
    assert!(msgs[0].get("sub").is_none(), "{}", msgs[0]);
    assert_eq!(msgs[1]["sub"]["type"], "CONNECT");
    assert_eq!(msgs[1]["sub"]["messages"], 2);
    // CONNACK and PUBLISH in one message.
    assert_eq!(msgs[2]["sub"]["type"], "CONNACK");
    let more = msgs[2]["sub_more"].as_array().expect("sub_more");
    assert_eq!(more.len(), 1);
    assert_eq!(more[0]["type"], "PUBLISH");
    assert_eq!(more[0]["topic"], "t");
    assert_eq!(more[0]["id"], "5");
    assert_eq!(msgs[3]["sub"]["type"], "PUBACK");

    let latency = r.of_flow("latency", 1);
    let count = |name: &str, dir: &str| {
        latency
            .iter()
            .find(|l| l["name"] == name && l["dir"] == dir)
            .map(|l| l["count"].clone())
    };
    assert_eq!(count("CONNECT", "c2s"), Some(1.into()));
    assert_eq!(count("PUBLISH t", "s2c"), Some(1.into()));
    assert_eq!(latency[0]["unanswered"], 0);

    let out = text(&["read", path.to_str().expect("path")]);
    assert!(
        out.contains(r#"MQTT CONNACK, MQTT PUBLISH topic="t" qos=1 id=5"#),
        "{out}"
    );
}
