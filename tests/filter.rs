//! The field catalog against what the analysis really produces: every record of every bundled
//! capture is read through the records' own fields (`model::InFlow`, what `-Y`, `-T fields`
//! and `check --forbid` evaluate); every value a field gives must be of the field's type (enum
//! values among the catalog's), every field that exists today must turn up in some capture, and
//! a filter built from each value found must match the record it came from (and its `!=` must
//! not). Filters are run end to end through `read -Y`. The catalog is also held against
//! docs/schema.json (every property of a filterable record is covered) and against
//! docs/filter.md (which lists every field, generated from the catalog).

mod common;

use clap::Parser;
use common::{capture_files, expected_all, sockscope};
use serde_json::Value as Json;
use sockscope::filter::ast::quote;
use sockscope::filter::fields::{self, Card, FIELDS, FieldDef, Status, Type};
use sockscope::filter::{FieldSource, Filter, RecordType, Value};
use sockscope::model::{Event, EventCtx, EventSink, FlowFacts, FlowKind, InFlow, Record};
use sockscope::report::gate::early_kind;
use sockscope::report::{PacketDone, Reporter};
use sockscope::stats::RunStats;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;

/// The port each bundled capture is analyzed on.
fn ports() -> BTreeMap<String, u16> {
    expected_all()
        .into_iter()
        .map(|(name, e)| (name, e.port))
        .collect()
}

/// What the catalog check found over every record.
#[derive(Default)]
struct Found {
    capture: String,
    seen: BTreeMap<&'static str, usize>,
    types: BTreeSet<RecordType>,
    checked: usize,
    kinds: HashMap<u64, FlowKind>,
}

impl Found {
    /// Checks every field of one record.
    fn record(&mut self, rec: &InFlow<'_>, header_names: &[&str]) {
        self.types.insert(rec.record_type());
        let capture = self.capture.clone();
        for def in FIELDS {
            for name in names_of(def, header_names) {
                let key = fields::lookup(&name).and_then(|r| r.key);
                let mut values: Vec<String> = Vec::new();
                let mut filters: Vec<String> = Vec::new();
                let _ = rec.values(def.id, key, &mut |v| {
                    assert!(
                        v.is_of(def.ty),
                        "{capture}: {name} gave {v:?}, not {}",
                        def.ty.name()
                    );
                    if let (Value::Sym(s), Type::Enum(e)) = (v, def.ty) {
                        assert!(
                            e.position(s).is_some(),
                            "{capture}: {name} = {s}, which the catalog does not list"
                        );
                    }
                    values.push(format!("{v:?}"));
                    filters.extend(asking_for(&name, &v));
                    ControlFlow::Continue(())
                });
                if values.is_empty() {
                    continue;
                }
                assert_eq!(def.status, Status::Now, "{name} is planned but has values");
                *self.seen.entry(def.name).or_default() += 1;
                if def.card == Card::One {
                    assert_eq!(
                        values.len(),
                        1,
                        "{capture}: {name} has one value: {values:?}"
                    );
                }
                for text in filters {
                    let f = Filter::new(&text).unwrap_or_else(|e| panic!("{e}"));
                    assert!(
                        f.matches(rec),
                        "{capture}: `{text}` does not match the record it came from"
                    );
                    if def.card == Card::One && text.contains(" == ") {
                        let ne = Filter::new(&text.replacen(" == ", " != ", 1)).unwrap();
                        assert!(
                            !ne.matches(rec),
                            "{capture}: `{text}` and its != both match"
                        );
                    }
                    self.checked += 1;
                }
            }
        }
    }
}

impl EventSink for Found {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        if let Some(k) = early_kind(&event) {
            self.kinds.entry(ctx.flow.id).or_insert(k);
        }
        let kind = self.kinds.get(&ctx.flow.id).copied();
        match event {
            Event::Record(r) => {
                let names: Vec<&str> = match r {
                    Record::Http(m) => m.headers.iter().map(|h| h.name).collect(),
                    _ => Vec::new(),
                };
                let rec = InFlow::record(ctx, r, kind);
                self.record(&rec, &names);
            }
            Event::FlowClosed { how, summary } => {
                let facts = FlowFacts {
                    meta: ctx.flow,
                    summary,
                    how,
                };
                let rec = InFlow::flow(&facts);
                self.record(&rec, &[]);
            }
            _ => {}
        }
    }
}

impl Reporter for Found {
    fn packet_done(&mut self, _done: &PacketDone<'_>) {}
    fn finish(&mut self, _stats: &RunStats) -> std::io::Result<()> {
        Ok(())
    }
    fn take_io_error(&mut self) -> Option<std::io::Error> {
        None
    }
}

/// A filter that asks for `v` exactly, e.g. `http.status == 101`.
fn asking_for(name: &str, v: &Value<'_>) -> Option<String> {
    let lit = match v {
        Value::Present => return Some(name.to_string()),
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) => format!("{x:?}"),
        Value::Str(s) => {
            let mut q = String::new();
            quote(s.as_bytes(), &mut q);
            q
        }
        Value::Bytes(b) => {
            let mut q = String::new();
            quote(b, &mut q);
            q
        }
        Value::Sym(s) => s.to_string(),
        Value::Addr(a) => a.to_string(),
        Value::Time(t) => {
            let ns = t.as_nanos();
            format!(
                "{}.{:09}",
                ns.div_euclid(1_000_000_000),
                ns.rem_euclid(1_000_000_000)
            )
        }
    };
    Some(format!("{name} == {lit}"))
}

/// The names to test a field under: keyed fields with each header name this record has.
fn names_of(def: &FieldDef, header_names: &[&str]) -> Vec<String> {
    match def.key_prefix() {
        None => vec![def.name.to_string()],
        Some(prefix) => header_names
            .iter()
            .filter(|n| fields::lookup(&format!("{prefix}{n}")).is_some())
            .map(|n| format!("{prefix}{n}"))
            .collect(),
    }
}

#[test]
fn every_field_of_today_is_found_in_the_captures_and_matches_what_it_found() {
    let ports = ports();
    let mut found = Found::default();
    let mut captures = 0;
    // The TLS captures on 443, each with its key log when it has one (the tls.* fields of
    // decrypted sessions: encrypted handshake messages, alerts, key updates).
    let tls = std::fs::read_dir(common::captures().join("tls"))
        .expect("captures/tls")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            (name.ends_with(".pcap") || name.ends_with(".pcapng")).then(|| format!("tls/{name}"))
        });
    // The sub-protocol captures on their ports (captures/expected/sub/NAME.json): the sub.*
    // fields and latency records.
    let mut sub_ports = BTreeMap::new();
    for e in std::fs::read_dir(common::captures().join("expected/sub")).expect("expected/sub") {
        let text = std::fs::read_to_string(e.expect("dir entry").path()).expect("expected file");
        let exp: Json = serde_json::from_str(&text).expect("expected JSON");
        let capture = exp["capture"].as_str().expect("capture").to_string();
        sub_ports.insert(capture, exp["port"].as_u64().expect("port") as u16);
    }
    let subs: Vec<String> = sub_ports.keys().cloned().collect();
    for name in capture_files().into_iter().chain(tls).chain(subs) {
        let port = match ports.get(&name).or(sub_ports.get(&name)) {
            Some(p) => *p,
            None if name.starts_with("tls/") => 443,
            None => 80,
        }
        .to_string();
        let path = common::capture(&name).display().to_string();
        let mut args = vec!["sockscope", "read", "-p", &port];
        let keys = common::capture(&name).with_extension("keys");
        let keys = keys.display().to_string();
        if std::path::Path::new(&keys).exists() {
            args.extend(["--keylog", &keys]);
        }
        args.push(&path);
        let cli = sockscope::cli::Cli::parse_from(args);
        let sockscope::cli::Command::Read { common, .. } = cli.command else {
            unreachable!("a read command");
        };
        found.capture = name.clone();
        found.kinds.clear();
        let config = common
            .with_keys(common.config(false), false)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (_, back) = sockscope::app::analyze(&[path], &config, found)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        found = back;
        captures += 1;
    }
    assert!(captures >= 30, "the bundled captures are missing");
    let missing: Vec<&str> = FIELDS
        .iter()
        .filter(|f| f.status == Status::Now && !found.seen.contains_key(f.name))
        .map(|f| f.name)
        .collect();
    assert!(
        missing.is_empty(),
        "fields of today that no bundled capture gives: {missing:?}"
    );
    for t in RecordType::ALL {
        assert!(
            found.types.contains(&t),
            "no bundled capture gives a {t:?} record"
        );
    }
    assert!(found.checked > 1000, "{} filters checked", found.checked);
}

/// Records `read --json -Y FILTER` writes for a bundled capture (the summary not counted).
fn count(capture: &str, filter: &str) -> usize {
    let port = ports().get(capture).copied().unwrap_or(80).to_string();
    let path = common::capture(capture);
    let run = sockscope(&[
        "read".as_ref(),
        "--json".as_ref(),
        "-p".as_ref(),
        port.as_ref(),
        "-Y".as_ref(),
        filter.as_ref(),
        path.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{capture} -Y {filter}: {}", run.stderr);
    run.report().records.len() - 1
}

#[test]
fn filters_find_what_the_captures_hold() {
    // ws-chat: one upgrade, client close 1000 "bye", pings both ways, subprotocol chat.v1.
    assert_eq!(
        count("ws-chat.pcap", "ws.handshake.subprotocol == \"chat.v1\""),
        1
    );
    assert_eq!(count("ws-chat.pcap", "http.status == 101"), 1);
    assert_eq!(
        count(
            "ws-chat.pcap",
            "http.request.method == GET && http.upgrade == websocket"
        ),
        1
    );
    assert_eq!(
        count(
            "ws-chat.pcap",
            "ws.close_code == 1000 && ws.close_reason == bye && dir == c2s"
        ),
        1
    );
    assert!(count("ws-chat.pcap", "ws.opcode in {ping, pong}") >= 4);
    assert_eq!(
        count("ws-chat.pcap", "ws.opcode == ping && dir == c2s"),
        count("ws-chat.pcap", "ws.opcode == pong && dir == s2c")
    );
    // Client frames are masked and server frames are not, in a well-behaved capture.
    assert_eq!(
        count(
            "ws-chat.pcap",
            "ws && dir == c2s && !ws.masked && record.type == ws_frame"
        ),
        0
    );
    assert_eq!(count("ws-chat.pcap", "ws.masked && dir == s2c"), 0);
    assert_eq!(
        count(
            "ws-chat.pcap",
            "flow.kind == websocket && record.type == flow"
        ),
        1
    );
    // Every record of the flow carries its kind and endpoints.
    let all = common::read_json(&common::capture("ws-chat.pcap"), &[])
        .records
        .len()
        - 1;
    assert_eq!(
        count("ws-chat.pcap", "flow.kind == websocket && tcp.port == 80"),
        all
    );
    // The bad captures' anomalies, by code and severity.
    assert_eq!(
        count(
            "bad/ws-masked-server-frame.pcap",
            "anomaly.code == ws.masked_server_frame"
        ),
        1
    );
    assert!(
        count(
            "bad/ws-masked-server-frame.pcap",
            "anomaly.severity >= error"
        ) >= 1
    );
    assert_eq!(count("ws-chat.pcap", "anomaly"), 0);
    assert!(count("ws-deflate.pcap", "ws.message.compressed || ws.rsv1") >= 1);
    assert!(count("sse.pcap", "sse && flow.kind == sse") >= 1);
    assert!(
        count(
            "http-keepalive.pcap",
            "http.response && http.status >= 200 && http.status < 300"
        ) >= 1
    );
    // A filter that names a field no record of a capture has matches nothing there.
    assert_eq!(count("sse.pcap", "ws.opcode == text"), 0);
}

#[test]
fn every_property_of_a_filterable_record_is_covered() {
    // The JSON property, and the field that stands for it (or why none does).
    let covered: &[(&str, &str, &str)] = &[
        ("*", "type", "record.type"),
        ("*", "flow", "flow.id"),
        ("*", "ts", "frame.time"),
        ("*", "frame", "frame.number"),
        ("*", "dir", "dir"),
        ("http", "kind", "http.request"),
        ("http", "method", "http.method"),
        ("http", "target", "http.uri"),
        ("http", "version", "http.version"),
        ("http", "status", "http.status"),
        ("http", "reason", "http.reason"),
        ("http", "headers", "http.header"),
        ("http", "header_bytes", "http.header_bytes"),
        ("http", "body_bytes", "http.body_bytes"),
        ("http", "framing_bytes", "http.framing_bytes"),
        ("http", "chunked", "http.chunked"),
        ("http", "upgrade", "http.upgrade"),
        ("http", "complete", "http.complete"),
        ("http", "preview", "http.body"),
        ("http", "sha256", "-- only with --digest"),
        ("handshake", "key", "ws.handshake.key"),
        ("handshake", "accept", "ws.handshake.accept"),
        (
            "handshake",
            "expected_accept",
            "ws.handshake.expected_accept",
        ),
        ("handshake", "accept_valid", "ws.handshake.accept_valid"),
        ("handshake", "version", "ws.handshake.version"),
        ("handshake", "subprotocol", "ws.handshake.subprotocol"),
        ("handshake", "extensions", "ws.handshake.extensions"),
        ("handshake", "deflate", "ws.handshake.deflate"),
        ("handshake", "origin", "ws.handshake.origin"),
        ("ws_frame", "fin", "ws.fin"),
        ("ws_frame", "rsv1", "ws.rsv1"),
        ("ws_frame", "rsv2", "ws.rsv2"),
        ("ws_frame", "rsv3", "ws.rsv3"),
        ("ws_frame", "opcode", "ws.opcode"),
        ("ws_frame", "opcode_num", "ws.opcode"),
        ("ws_frame", "masked", "ws.masked"),
        ("ws_frame", "mask", "ws.mask"),
        ("ws_frame", "payload_len", "ws.payload_len"),
        ("ws_frame", "header_len", "ws.header_len"),
        ("ws_frame", "close_code", "ws.close_code"),
        ("ws_frame", "close_reason", "ws.close_reason"),
        ("ws_frame", "preview", "ws.payload"),
        ("ws_message", "opcode", "ws.opcode"),
        ("ws_message", "frames", "ws.message.frames"),
        ("ws_message", "wire_len", "ws.message.wire_len"),
        ("ws_message", "len", "ws.message.len"),
        ("ws_message", "compressed", "ws.message.compressed"),
        ("ws_message", "valid_utf8", "ws.message.valid_utf8"),
        ("ws_message", "preview", "ws.payload"),
        ("ws_message", "sha256", "-- only with --digest"),
        ("sse_event", "event", "sse.event"),
        ("sse_event", "id", "sse.id"),
        ("sse_event", "preview", "sse.data"),
        ("anomaly", "severity", "anomaly.severity"),
        ("anomaly", "code", "anomaly.code"),
        ("anomaly", "detail", "anomaly.detail"),
        ("flow", "id", "flow.id"),
        ("flow", "client", "flow.client"),
        ("flow", "server", "flow.server"),
        ("flow", "kind", "flow.kind"),
        ("flow", "first_ts", "flow.first_ts"),
        ("flow", "last_ts", "flow.last_ts"),
        ("flow", "packets", "flow.packets"),
        ("flow", "bytes_c2s", "flow.bytes_c2s"),
        ("flow", "bytes_s2c", "flow.bytes_s2c"),
        ("flow", "ws_frames", "flow.ws_frames"),
        ("flow", "ws_messages", "flow.ws_messages"),
        ("flow", "http_messages", "flow.http_messages"),
        ("flow", "sse_events", "flow.sse_events"),
        ("flow", "flow", "flow.id"),
        ("flow", "tcp_stream", "flow.tcp_stream"),
        ("flow", "messages_c2s", "flow.messages_c2s"),
        ("flow", "messages_s2c", "flow.messages_s2c"),
        ("sse_event", "len", "sse.len"),
        (
            "*",
            "preview_truncated",
            "-- display only: whether `preview` was cut",
        ),
        ("*", "layers", "layers"),
        ("flow", "polling", "flow.polling"),
        ("flow", "anomalies", "flow.anomalies"),
        ("flow", "handshake_complete", "flow.handshake_complete"),
        ("flow", "closed", "flow.closed"),
        ("flow", "end", "flow.end"),
        ("flow", "gaps", "flow.gaps"),
        ("flow", "ping_rtt_ms", "flow.ping_rtt_ms"),
        ("flow", "community_id", "flow.community_id"),
        ("ws_message", "sub", "sub"),
        ("ws_message", "sub_more", "sub"),
        (
            "flow",
            "sub",
            "-- the sub-protocol chosen: its messages' sub.protocol",
        ),
        ("flow", "tls", "tls"),
        ("tls", "kind", "tls.kind"),
        ("tls", "name", "tls.name"),
        ("tls", "handshake_type", "tls.handshake.type"),
        ("tls", "len", "-- the handshake message's length"),
        ("tls", "encrypted", "tls.encrypted"),
        ("tls", "version", "tls.version"),
        ("tls", "cipher_suite", "tls.cipher"),
        ("tls", "cipher_suite_id", "tls.cipher"),
        (
            "tls",
            "suites_offered",
            "-- a count of the ClientHello's offer",
        ),
        ("tls", "sni", "tls.sni"),
        ("tls", "alpn", "tls.alpn"),
        ("tls", "resumed", "tls.resumed"),
        ("tls", "alert_level", "tls.alert.level"),
        ("tls", "alert_description", "tls.alert.description"),
        (
            "tls",
            "generation",
            "-- which keys: the order of key records",
        ),
        ("latency", "protocol", "latency.protocol"),
        ("latency", "name", "latency.name"),
        ("latency", "count", "latency.count"),
        ("latency", "errors", "latency.errors"),
        ("latency", "unanswered", "latency.unanswered"),
        ("latency", "p50", "latency.p50"),
        ("latency", "p90", "latency.p90"),
        ("latency", "p99", "latency.p99"),
        ("latency", "max", "latency.max"),
        (
            "latency",
            "unmatched_replies",
            "-- whole-connection bookkeeping",
        ),
        ("latency", "evicted", "-- whole-connection bookkeeping"),
    ];
    let schema: Json = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("docs/schema.json")).expect("schema"),
    )
    .expect("schema is JSON");
    for t in RecordType::ALL {
        let props = schema["$defs"][t.as_str()]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("docs/schema.json has no {}", t.as_str()));
        for prop in props.keys() {
            let by = covered
                .iter()
                .find(|(rt, p, _)| (*rt == t.as_str() || *rt == "*") && p == prop)
                .map(|(_, _, f)| *f)
                .unwrap_or_else(|| {
                    panic!(
                        "{}.{prop} (docs/schema.json) has no filter field",
                        t.as_str()
                    )
                });
            if let Some(field) = fields::lookup(by) {
                assert!(
                    fields::def(field.id).records.contains(t),
                    "{by} does not say it is on {} records",
                    t.as_str()
                );
            } else {
                assert!(by.starts_with("-- "), "{by} is not a field");
            }
        }
    }
}

#[test]
fn docs_list_every_field_as_the_catalog_does() {
    const BEGIN: &str = "<!-- fields: generated from src/filter/fields.rs -->\n";
    const END: &str = "<!-- end of fields -->";
    let path = common::root().join("docs/filter.md");
    let doc = std::fs::read_to_string(&path).expect("docs/filter.md");
    let (head, rest) = doc
        .split_once(BEGIN)
        .expect("docs/filter.md has the fields marker");
    let (_, tail) = rest
        .split_once(END)
        .expect("docs/filter.md has the end marker");
    let want = format!("{head}{BEGIN}{}{END}{tail}", fields::markdown());
    if std::env::var_os("UPDATE_FILTER_DOC").is_some() {
        std::fs::write(&path, &want).expect("write docs/filter.md");
        return;
    }
    assert!(
        doc == want,
        "docs/filter.md's field tables differ from the catalog; run \
         UPDATE_FILTER_DOC=1 cargo test --test filter docs_list"
    );
    for f in FIELDS {
        assert!(doc.contains(&format!("| `{}` |", f.name)), "{}", f.name);
    }
}

// ---- `check --forbid` and `sockscope fields`, end to end ----

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(common::root().join("docs/schema.json")).expect("schema");
    let schema: Json = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn check(args: &[&str]) -> common::Run {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    let run = sockscope(&all);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

#[test]
fn forbid_fails_captures_with_a_matching_record() {
    // The example: no bundled capture has a frame over 1 MiB.
    let run = check(&["-q", "--forbid", "ws.payload_len > 1048576", "captures/"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = check(&["-q", "--forbid", "ws.payload_len > 65535", "captures/"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let failed: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert_eq!(failed.len(), 1, "{}", run.stdout);
    assert!(
        failed[0].contains("ws-lengths.pcap: --forbid 'ws.payload_len > 65535' matched 4 records")
    );
    // The flow's kind is known for records that came before the handshake proved it.
    let run = check(&[
        "--json",
        "--forbid",
        "flow.kind == websocket && http.status == 101",
        "--forbid",
        "sse",
        "captures/ws-chat.pcap",
    ]);
    assert_eq!(run.code, 1);
    let lines: Vec<Json> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let v = validator();
    for l in &lines {
        let errors: Vec<String> = v.iter_errors(l).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{l}");
    }
    let verdict = &lines[0];
    assert_eq!(
        verdict["forbidden"]["flow.kind == websocket && http.status == 101"],
        1
    );
    assert_eq!(verdict["forbidden"]["sse"], 0);
    let finding = &verdict["findings"][0];
    assert_eq!(finding["rule"], "forbid");
    assert_eq!(finding["code"], "check.forbid");
    assert_eq!(finding["frame"], 8);
    assert_eq!(finding["dir"], "s2c");
    assert_eq!(finding["detail"], "http response 101 Switching Protocols");
    assert_eq!(
        finding["decided_by"],
        "--forbid 'flow.kind == websocket && http.status == 101'"
    );
}

#[test]
fn forbid_sees_whole_payloads_and_keeps_to_the_judged_flows() {
    // The preview of a JSON record stops at 128 characters; a payload filter sees more.
    let run = check(&[
        "--forbid",
        "ws.text matches \"^.{1000}\"",
        "captures/ws-lengths.pcap",
    ]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    // --kind: records of other flows are not judged.
    let run = check(&["--kind", "http", "--forbid", "ws", "captures/ws-chat.pcap"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let run = check(&[
        "--kind",
        "websocket",
        "--forbid",
        "ws",
        "captures/ws-chat.pcap",
    ]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    // Anomalies are records too, global ones included.
    let run = check(&[
        "--forbid",
        "anomaly.code == ws.masked_server_frame",
        "--allow",
        "ws.masked_server_frame",
        "captures/bad/ws-masked-server-frame.pcap",
    ]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    // The document formats name the rule.
    let run = check(&[
        "--format",
        "sarif",
        "--forbid",
        "ws.opcode == close",
        "captures/ws-chat.pcap",
    ]);
    let sarif: Json = serde_json::from_str(&run.stdout).expect("SARIF is JSON");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(!results.is_empty());
    for r in results {
        assert_eq!(r["ruleId"], "check.forbid");
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            sarif["runs"][0]["tool"]["driver"]["rules"][i]["id"],
            "check.forbid"
        );
    }
    let run = check(&[
        "--format",
        "junit",
        "--forbid",
        "ws.opcode == close",
        "captures/ws-chat.pcap",
    ]);
    assert!(
        run.stdout.contains("<failure type=\"check.forbid\""),
        "{}",
        run.stdout
    );
}

#[test]
fn a_bad_forbid_is_refused_with_a_caret_before_anything_is_read() {
    let run = check(&[
        "--forbid",
        "http.status >= 500 && ws.opcode ==",
        "captures/",
    ]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "sockscope: --forbid: filter: 1:35: expected a value after `==`\n  \
         http.status >= 500 && ws.opcode ==\n                                    ^\n"
    );
    let run = check(&["--forbid", "http.stauts == 200", "no-such-dir/"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .starts_with("sockscope: --forbid: filter: 1:1: unknown field `http.stauts`; did you mean `http.status`?"),
        "{}",
        run.stderr
    );
    // What came from the command line cannot drive the terminal.
    let run = check(&["--forbid", "ws.text == \"\u{1b}[2J\" &&", "captures/"]);
    assert_eq!(run.code, 2);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}

#[test]
fn fields_lists_the_catalog() {
    let run = sockscope(&["fields"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for f in FIELDS {
        assert!(run.stdout.contains(f.name), "{}", f.name);
    }
    let run = sockscope(&["fields", "websocket."]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("ws.opcode") && !run.stdout.contains("http.status"));
    let run = sockscope(&["fields", "nope"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no field name starts with `nope`"),
        "{}",
        run.stderr
    );
}
