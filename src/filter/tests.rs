//! Filters end to end: type checking with its messages, evaluation semantics over an in-memory
//! source and over the model's records, and the property tests of the grammar (canonical text reads
//! back as the same tree; errors point inside the text, exactly at junk after a filter).

use super::ast::{Check, CmpOp, Expr, LitValue, Literal, Name, SetItem, Span, Test};
use super::fields::{FIELDS, FieldId, RecordType, Status};
use super::{FieldSource, Filter, OwnFields, Value};
use crate::model::{
    Digest, FlowFacts, FlowKind, FlowSummary, Header, HttpHead, HttpMessage, InFlow, Layers,
    OpCode, SseEvent, TlsRecord, TlsSummary, TlsWhat, WsFrame,
};
use crate::tcp::{CloseHow, Dir, FlowMeta, RoleBasis};
use crate::time::Timestamp;
use proptest::prelude::*;
use std::ops::ControlFlow;

/// A record made of (field, key, value) triples.
struct Rec {
    ty: RecordType,
    values: Vec<(FieldId, Option<&'static str>, Value<'static>)>,
}

impl FieldSource for Rec {
    fn record_type(&self) -> RecordType {
        self.ty
    }

    fn values(
        &self,
        field: FieldId,
        key: Option<&str>,
        each: &mut dyn FnMut(Value<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        for (f, k, v) in &self.values {
            if *f == field && k.is_none_or(|k| key.is_some_and(|key| k.eq_ignore_ascii_case(key))) {
                each(*v)?;
            }
        }
        ControlFlow::Continue(())
    }
}

fn frame(opcode: &'static str, len: i128, text: Option<&'static str>) -> Rec {
    let mut values = vec![
        (FieldId::Ws, None, Value::Present),
        (FieldId::WsOpcode, None, Value::Sym(opcode)),
        (FieldId::WsPayloadLen, None, Value::Int(len)),
        (FieldId::WsFin, None, Value::Bool(true)),
        (FieldId::WsMasked, None, Value::Bool(false)),
        (FieldId::FlowId, None, Value::Int(1)),
        (FieldId::IpAddr, None, Value::Addr([10, 0, 0, 1].into())),
        (FieldId::IpAddr, None, Value::Addr([192, 0, 2, 80].into())),
        (
            FieldId::FrameTime,
            None,
            Value::Time(Timestamp(1_714_557_600_000_000_000)),
        ),
    ];
    if let Some(t) = text {
        values.push((FieldId::WsText, None, Value::Str(t)));
        values.push((FieldId::WsPayload, None, Value::Bytes(t.as_bytes())));
    }
    Rec {
        ty: RecordType::WsFrame,
        values,
    }
}

fn response(status: i128, headers: &[&'static str]) -> Rec {
    let mut values = vec![
        (FieldId::Http, None, Value::Present),
        (FieldId::HttpResponse, None, Value::Present),
        (FieldId::HttpStatus, None, Value::Int(status)),
        (FieldId::FlowKind, None, Value::Sym("http")),
    ];
    for h in headers {
        values.push((FieldId::HttpHeader, None, Value::Str(h)));
        if let Some((name, value)) = h.split_once(": ") {
            let name: &'static str = name;
            let value: &'static str = value;
            values.push((FieldId::HttpHeaderNamed, Some(name), Value::Str(value)));
        }
    }
    Rec {
        ty: RecordType::Http,
        values,
    }
}

fn matches(filter: &str, rec: &Rec) -> bool {
    Filter::new(filter)
        .unwrap_or_else(|e| panic!("{e}"))
        .matches(rec)
}

#[test]
fn comparisons_contains_matches_and_sets() {
    let text = frame("text", 70_000, Some("an error occurred"));
    let ping = frame("ping", 4, None);
    for (f, on_text, on_ping) in [
        ("ws", true, true),
        ("ws.opcode == text", true, false),
        ("ws.opcode == 1", true, false),
        ("websocket.opcode == \"text\"", true, false),
        ("ws.opcode >= 8", false, true),
        ("ws.opcode >= close", false, true),
        ("ws.opcode in {ping, pong}", false, true),
        ("ws.payload_len > 65535", true, false),
        ("ws.payload_len in {0..10, 70000}", true, true),
        ("ws.payload_len in {5..10}", false, false),
        ("ws.text contains \"error\"", true, false),
        ("ws.text contains error", true, false),
        ("ws.text matches \"^an? err\"", true, false),
        ("ws.text matches \"(?i)ERROR\"", true, false),
        ("ws.text matches \"ERROR\"", false, false),
        ("ws.payload contains \"err\"", true, false),
        ("ws.payload contains 65:72:72", true, false),
        ("ws.payload matches \"o[cr]{2}\"", true, false),
        (
            "ws.opcode == text && ws.text contains \"error\"",
            true,
            false,
        ),
        ("ws.opcode == text || ws.opcode == ping", true, true),
        ("!(ws.opcode == text)", false, true),
        ("not ws.opcode == text", false, true),
        ("ws.fin", true, true),
        ("ws.masked", false, false),
        ("!ws.masked", true, true),
        ("ws.fin == false", false, false),
        ("ws.fin == 1", true, true),
        ("ip.addr == 10.0.0.1", true, true),
        ("ip.addr == 192.0.2.0/24", true, true),
        ("ip.addr == 203.0.113.1", false, false),
        ("ip.addr in {203.0.113.1, 10.0.0.0/8}", true, true),
        ("frame.time >= 2024-05-01", true, true),
        (
            "frame.time < \"2024-05-01 00:00:00.000000001\"",
            false,
            false,
        ),
        ("frame.time == 1714557600", true, true),
        ("frame.time in {1714557599..1714557600.5}", true, true),
        ("flow.id == 1 && ws", true, true),
        ("http", false, false),
        ("!http", true, true),
        ("record.type == ws_frame", false, false), // the test source carries no record.type
    ] {
        assert_eq!(matches(f, &text), on_text, "{f} on a text frame");
        assert_eq!(matches(f, &ping), on_ping, "{f} on a ping");
    }
}

#[test]
fn absent_fields_and_not_equal() {
    let ok = response(200, &["Content-Type: text/html", "Vary: a", "Vary: b"]);
    let frame = frame("text", 3, Some("abc"));
    // A missing field fails every test; `!` turns that around.
    assert!(!matches("http.status != 200", &frame));
    assert!(!matches("http.status == 200", &frame));
    assert!(matches("!(http.status == 200)", &frame));
    assert!(!matches("http.status != 200", &ok));
    assert!(matches("http.status != 404", &ok));
    // Several values: any passes, and != needs all to differ.
    assert!(matches("http.header contains \"Vary: b\"", &ok));
    assert!(matches("http.header.vary == a", &ok));
    assert!(matches("http.header.VARY == b", &ok));
    assert!(!matches("http.header.vary != a", &ok));
    assert!(matches("http.header.vary != c", &ok));
    assert!(!matches("http.header.x-absent != c", &ok));
    assert!(matches("http.header.content-type matches \"^text/\"", &ok));
    assert!(matches("http.response && flow.kind == http", &ok));
    assert!(!matches("http.request", &ok));
}

#[test]
fn type_errors_name_the_problem_and_the_column() {
    for (text, col, says) in [
        (
            "http.stauts == 200",
            1,
            "unknown field `http.stauts`; did you mean `http.status`?",
        ),
        ("ws && http.status == 20", 7, "no record can match"),
        (
            "http.status == 200 && ws.opcode == text",
            23,
            "only on ws_frame and ws_message records, the tests before it only on http records",
        ),
        ("http.status == 1.5", 16, "`1.5` is not a whole number"),
        (
            "http.status == \"200\"",
            16,
            "write the number without quotes",
        ),
        ("http.status == ok", 16, "`ok` is not a number"),
        (
            "http.status contains 2",
            22,
            "`contains` looks into strings and bytes",
        ),
        (
            "http.status matches \"2\"",
            21,
            "`matches` applies to strings and bytes",
        ),
        ("http == 1", 1, "`http` has no value to compare"),
        ("ws.fin == yes", 11, "compare it with true or false"),
        ("ws.fin > true", 10, "cannot be ordered"),
        (
            "ws.opcode == txt",
            14,
            "`txt` is not a value of `ws.opcode`; did you mean `text`?",
        ),
        ("ws.opcode == 16", 14, "is not a value"),
        ("flow.kind > sse", 13, "cannot be ordered"),
        ("flow.kind == websockets", 14, "did you mean `websocket`?"),
        (
            "anomaly.code == ws.invalid_utf",
            17,
            "did you mean `ws.invalid_utf8`?",
        ),
        ("flow.client == 10.0.0", 16, "not an IP address"),
        ("flow.client < 10.0.0.1", 15, "cannot be ordered"),
        ("ws.mask == 12345", 12, "write hex pairs"),
        ("ws.mask == a1:b", 12, "write hex pairs"),
        ("http.method == 5", 16, "quote the value (`\"5\"`)"),
        ("http.method == \"\\xff\"", 16, "not UTF-8 text"),
        ("http.uri matches \"(\"", 18, "invalid regular expression"),
        ("http.uri matches \"\\\\w{1000}{1000}\"", 18, "too large"),
        ("frame.time > yesterday", 14, "is a time"),
        ("http.status in {500..400}", 17, "runs backwards"),
        (
            "http.method in {GET..POST}",
            17,
            "a range needs numbers or times",
        ),
        ("http.header. == x", 1, "unknown field"),
    ] {
        let e = Filter::new(text).expect_err(text);
        assert!(e.message().contains(says), "{text}: {}", e.message());
        assert_eq!(e.line_col(), (1, col), "{text}: {}", e.message());
    }
}

#[test]
fn tls_fields_read_the_flows_tls_object_and_the_tls_records() {
    let f = Filter::new("tls.sni contains \"example\" && tls.alpn == \"http/1.1\"").unwrap();
    let (meta, mut summary) = flow();
    let facts = |summary: &FlowSummary| {
        let facts = FlowFacts {
            meta: &meta,
            summary,
            how: CloseHow::EndOfInput,
        };
        f.matches(&in_flow(&facts, &meta, None))
    };
    assert!(!facts(&summary), "a flow without TLS has no tls.* field");
    summary.tls = Some(Box::new(TlsSummary {
        sni: Some("chat.example.org".into()),
        alpn_offered: vec!["h2".into(), "http/1.1".into()],
        ..TlsSummary::default()
    }));
    assert!(facts(&summary), "the offer is among tls.alpn");
    let mut hello = TlsRecord::new(
        Dir::C2S,
        Timestamp::from_secs_nanos(11, 0),
        TlsWhat::Handshake { msg_type: 1 },
        "ClientHello",
    );
    hello.sni = Some("chat.example.org");
    hello.alpn = vec!["http/1.1"];
    assert!(f.matches(&in_flow(&hello, &meta, Some(4))));
    let alert =
        Filter::new("tls.alert.description == 0 && tls.kind == alert && dir == c2s").unwrap();
    assert!(!alert.matches(&in_flow(&hello, &meta, Some(4))));
    let close = TlsRecord::new(
        Dir::C2S,
        Timestamp::from_secs_nanos(12, 0),
        TlsWhat::Alert {
            level: 1,
            description: 0,
        },
        "close_notify",
    );
    assert!(alert.matches(&in_flow(&close, &meta, Some(9))));
    assert!(
        FIELDS.iter().all(|d| d.status == Status::Now),
        "every field of the catalog has its records today"
    );
    let f = Filter::new("sub.protocol == \"socket.io\" && sub.event == \"chat message\"").unwrap();
    assert_eq!(
        f.records().iter().collect::<Vec<_>>(),
        vec![RecordType::WsMessage]
    );
    assert!(Filter::new("flow.kind == http2 || record.type == tls").is_ok());
}

#[test]
fn error_display_has_a_caret_under_the_column() {
    let e = Filter::new("http.status >= 500 && ws.opcode ==").unwrap_err();
    assert_eq!(e.headline(), "filter: 1:35: expected a value after `==`");
    assert_eq!(
        e.caret(),
        "  http.status >= 500 && ws.opcode ==\n                                    ^"
    );
    let e = Filter::new("ws &&\n  http.stat").unwrap_err();
    assert_eq!(e.line_col(), (2, 3));
    assert_eq!(e.caret(), "    http.stat\n    ^");
    // What came from the command line is escaped; the caret still lines up.
    let e = Filter::new("ws.text == \"\x1b\" && é == 1").unwrap_err();
    assert!(
        e.caret().starts_with("  ws.text == \"\\x1b\" && "),
        "{}",
        e.caret()
    );
    let caret = e.caret();
    let lines: Vec<&str> = caret.lines().collect();
    let col = lines[1].chars().count() - 1;
    assert_eq!(lines[0].chars().nth(col), Some('é'), "{caret}");
    // A long filter is cut around the error.
    let long = format!("{} && zzz", vec!["ws"; 200].join(" && "));
    let e = Filter::new(&long).unwrap_err();
    let caret = e.caret();
    assert!(caret.lines().all(|l| l.chars().count() < 130), "{caret}");
    let lines: Vec<&str> = caret.lines().collect();
    let col = lines[1].chars().count() - 1;
    assert_eq!(
        lines[0].chars().skip(col).take(3).collect::<String>(),
        "zzz"
    );
}

#[test]
fn canonical_text_uses_catalog_names() {
    let f = Filter::new(
        "websocket.opcode eq text and http.request.method == GET or http.header.X-Id == 1.5",
    );
    // Refused: no record is both a frame and a request.
    assert!(f.is_err());
    let f = Filter::new(
        "websocket.opcode eq text or (http.request.method == GET and http.header.X-Id == a)",
    )
    .unwrap();
    assert_eq!(
        f.canonical(),
        "ws.opcode == text || http.method == GET && http.header.X-Id == a"
    );
    assert!(f.uses(FieldId::WsOpcode) && f.uses(FieldId::HttpHeaderNamed));
    assert!(!f.uses(FieldId::HttpStatus));
}

fn flow() -> (FlowMeta, FlowSummary) {
    let mut meta = FlowMeta::new(
        1,
        "[2001:db8::1]:51000".parse().unwrap(),
        "192.0.2.80:80".parse().unwrap(),
        RoleBasis::Syn,
        Timestamp::from_secs_nanos(10, 500_000_000),
    );
    meta.last_ts = Timestamp::from_secs_nanos(12, 0);
    meta.packets = 9;
    meta.payload_bytes = [10, 20];
    meta.tcp_stream = 4;
    let summary = FlowSummary {
        kind: Some(FlowKind::WebSocket),
        messages: [3, 5],
        ..FlowSummary::default()
    };
    (meta, summary)
}

fn in_flow<'a>(own: &'a dyn OwnFields, meta: &'a FlowMeta, frame: Option<u64>) -> InFlow<'a> {
    InFlow {
        own,
        flow: Some(meta),
        kind: Some(FlowKind::WebSocket),
        frame,
        layers: Layers::default(),
    }
}

#[test]
fn records_answer_with_their_own_fields_and_their_flows() {
    let (meta, summary) = flow();
    let frame = WsFrame {
        dir: Dir::C2S,
        ts: Timestamp::from_secs_nanos(11, 1000),
        first_frame: 7,
        fin: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: OpCode::Binary,
        mask: Some([0xa1, 0xb2, 0xc3, 0xd4]),
        payload_len: 3,
        header: &[0x82, 0x83, 0xa1, 0xb2, 0xc3, 0xd4],
        payload_head: &[0x00, 0xff, 0x10],
        close_code: None,
        close_reason: None,
        deflate: false,
    };
    let cont = WsFrame {
        opcode: OpCode::Continuation,
        payload_head: b"31\xc3",
        ..frame
    };
    let headers = [
        Header {
            name: "Content-Type",
            value: b"application/json",
        },
        Header {
            name: "X-A",
            value: b"1",
        },
        Header {
            name: "x-a",
            value: b"2",
        },
    ];
    let body = HttpMessage {
        dir: Dir::S2C,
        start_ts: Timestamp::ZERO,
        ts: Timestamp::ZERO,
        head: HttpHead::Response {
            version: 1,
            status: 200,
            reason: "OK",
        },
        headers: &headers,
        header_bytes: 80,
        body_bytes: 11,
        framing_bytes: 0,
        chunked: false,
        upgrade: None,
        body_head: b"{\"ok\":true}",
        raw_head: b"",
        complete: true,
        digest: Digest::Off,
        exchange: None,
    };
    let sse = SseEvent {
        ts: Timestamp::ZERO,
        event: Some("tick"),
        id: None,
        data: b"data",
        len: 4,
    };
    let facts = FlowFacts {
        meta: &meta,
        summary: &summary,
        how: CloseHow::EndOfInput,
    };
    let check = |f: &str, own: &dyn OwnFields| {
        Filter::new(f)
            .unwrap()
            .matches(&in_flow(own, &meta, Some(7)))
    };
    assert!(check(
        "flow.kind == websocket && flow.client == 2001:db8::/32",
        &frame
    ));
    assert!(check(
        "tcp.port == 80 && ip.addr == 192.0.2.80 && flow.client.port == 51000",
        &frame
    ));
    assert!(check(
        "ws.payload == 00:ff:10 && ws.mask == a1b2c3d4 && frame.number == 7",
        &frame
    ));
    assert!(check("frame.time == 11.000001 && dir == c2s", &frame));
    // tshark's number from the flow's metadata, not derived from the flow id.
    assert!(check(
        "tcp.stream == 4 && flow.tcp_stream == 4 && flow.id == 1",
        &frame
    ));
    // Times compare to the nanosecond, beyond what a float literal holds.
    let late = WsFrame {
        ts: Timestamp::from_secs_nanos(1_795_449_803, 83_168_702),
        ..frame
    };
    assert!(check("frame.time == 1795449803.083168702", &late));
    assert!(!check("frame.time == 1795449803.083168703", &late));
    assert!(check("frame.time < 1795449803.083168703", &late));
    assert!(!check("ws.text", &frame));
    // A continuation's text is its UTF-8 prefix (a display head may end inside a character).
    assert!(check("ws.text == \"31\"", &cont));
    assert!(check(
        "http.content_type contains json && http.header.x-a == \"2\"",
        &body
    ));
    assert!(check(
        "http.header contains \"X-A: 1\" && http.body contains \"ok\"",
        &body
    ));
    assert!(check(
        "http.version == \"HTTP/1.1\" && http.response",
        &body
    ));
    assert!(check("dir == s2c && sse.event == tick && !sse.id", &sse));
    assert!(check("sse.len == 4 && frame.number == 7", &sse));
    assert!(check(
        "flow.messages_c2s == 3 && flow.messages_s2c == 5 && tcp.stream == 4",
        &facts
    ));
    assert!(check(
        "flow.duration == 1.5 && flow.bytes == 30 && flow.end == eof && !flow.closed",
        &facts
    ));
    assert!(check(
        "!flow.polling && !flow.ping_rtt_ms && record.type == flow",
        &facts
    ));
    // Without its flow a record has no endpoints and no flow id.
    let bare = InFlow {
        own: &frame,
        flow: None,
        kind: None,
        frame: None,
        layers: Layers::default(),
    };
    assert!(!Filter::new("ip.addr == 192.0.2.80").unwrap().matches(&bare));
    assert!(!Filter::new("flow.id == 1").unwrap().matches(&bare));
}

// ---- property tests of the grammar ----

fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z_:/][a-zA-Z0-9_:/-]{0,8}(\\.[a-zA-Z0-9_:/-]{1,4}){0,2}"
        .prop_filter("reads back as a word", |w| {
            super::parse::classify(w) == Ok(LitValue::Word(w.clone()))
        })
}

fn lit_value() -> impl Strategy<Value = LitValue> {
    prop_oneof![
        (i128::from(i64::MIN)..=i128::from(u64::MAX)).prop_map(LitValue::Int),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(LitValue::Float),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(LitValue::Str),
        ".{0,6}".prop_map(|s: String| LitValue::Str(s.into_bytes())),
        word().prop_map(LitValue::Word),
    ]
}

fn lit() -> impl Strategy<Value = Literal> {
    lit_value().prop_map(|value| Literal {
        value,
        span: Span::default(),
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(FIELDS.iter().map(|f| f.name).collect::<Vec<_>>())
            .prop_map(|n| n.replace("<name>", "x-id")),
        "[a-z_][a-z0-9_-]{0,5}(\\.[a-z0-9_-]{1,5}){0,2}".prop_filter(
            "not a keyword",
            |n| !matches!(n.as_str(), "and" | "or" | "not")
        ),
    ]
}

fn check() -> impl Strategy<Value = Check> {
    let op = proptest::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ]);
    let item = prop_oneof![
        lit().prop_map(SetItem::One),
        (lit(), lit()).prop_map(|(a, b)| SetItem::Range(a, b)),
    ];
    prop_oneof![
        Just(Check::Exists),
        (op, lit()).prop_map(|(op, l)| Check::Compare(op, l)),
        lit().prop_map(Check::Contains),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(|b| Check::Matches(Literal {
            value: LitValue::Str(b),
            span: Span::default(),
        })),
        proptest::collection::vec(item, 1..4).prop_map(Check::In),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = (field_name(), check()).prop_map(|(text, check)| {
        Expr::Test(Test {
            field: Name {
                text,
                span: Span::default(),
            },
            check,
        })
    });
    leaf.prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e), Span::default())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn printed_filters_parse_back_to_the_same_tree(e in expr()) {
        let text = e.to_string();
        let back = super::parse::parse(&text);
        prop_assert!(back.is_ok(), "{text}: {back:?}");
        let back = back.unwrap();
        prop_assert_eq!(&back, &e, "{}", text);
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn junk_after_a_filter_is_reported_where_it_is(e in expr(), junk in "[@#$%^`;]") {
        let text = format!("{e} {junk}");
        let p = super::parse::parse(&text).expect_err("junk");
        prop_assert_eq!(p.at, e.to_string().len() + 1, "{}: {}", text, p.msg);
    }

    #[test]
    fn errors_point_inside_the_text(e in expr(), cut in any::<proptest::sample::Index>()) {
        let text = e.to_string();
        let mut k = cut.index(text.len() + 1);
        while !text.is_char_boundary(k) {
            k -= 1;
        }
        let prefix = &text[..k];
        if let Err(err) = Filter::new(prefix) {
            prop_assert!(err.offset() <= prefix.len());
            let caret = err.caret();
            prop_assert_eq!(caret.lines().count(), 2);
        }
    }

    #[test]
    fn any_text_parses_or_errors_inside_it(text in "\\PC{0,40}|[-a-z0-9.=!<>&|(){}\" ,~]{0,40}") {
        match Filter::new(&text) {
            Ok(f) => { let _ = f.canonical(); }
            Err(e) => {
                prop_assert!(e.offset() <= text.len());
                let _ = e.to_string();
            }
        }
    }
}
