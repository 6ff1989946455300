//! WAMP v2 with JSON serialization (subprotocol `wamp.2.json`): each message is a JSON array
//! whose first element is the message code (HELLO 1 ... YIELD 70) followed by that message's
//! elements, checked against the specification's layout.
//!
//! Reference: the WAMP specification (wamp-proto.org, "Message Definitions"), whose examples
//! are the tests.

use super::json::{one_line, wide};
use super::latency::Role;
use super::{Code, Node, Sink, SubProtocol, SubRecord, quoted};
use crate::model::sub_object::Members;
use serde_json::Value;

/// Element kinds in a message layout: `i` id, `d` dict, `u` URI, `s` string, `n` integer.
struct Layout {
    code: u64,
    name: &'static str,
    /// Required elements after the code.
    elements: &'static str,
    /// May end with Arguments (list) and ArgumentsKw (dict).
    args: bool,
}

const LAYOUTS: [Layout; 23] = [
    Layout {
        code: 1,
        name: "HELLO",
        elements: "ud",
        args: false,
    },
    Layout {
        code: 2,
        name: "WELCOME",
        elements: "id",
        args: false,
    },
    Layout {
        code: 3,
        name: "ABORT",
        elements: "du",
        args: false,
    },
    Layout {
        code: 4,
        name: "CHALLENGE",
        elements: "sd",
        args: false,
    },
    Layout {
        code: 5,
        name: "AUTHENTICATE",
        elements: "sd",
        args: false,
    },
    Layout {
        code: 6,
        name: "GOODBYE",
        elements: "du",
        args: false,
    },
    Layout {
        code: 8,
        name: "ERROR",
        elements: "nidu",
        args: true,
    },
    Layout {
        code: 16,
        name: "PUBLISH",
        elements: "idu",
        args: true,
    },
    Layout {
        code: 17,
        name: "PUBLISHED",
        elements: "ii",
        args: false,
    },
    Layout {
        code: 32,
        name: "SUBSCRIBE",
        elements: "idu",
        args: false,
    },
    Layout {
        code: 33,
        name: "SUBSCRIBED",
        elements: "ii",
        args: false,
    },
    Layout {
        code: 34,
        name: "UNSUBSCRIBE",
        elements: "ii",
        args: false,
    },
    Layout {
        code: 35,
        name: "UNSUBSCRIBED",
        elements: "i",
        args: false,
    },
    Layout {
        code: 36,
        name: "EVENT",
        elements: "iid",
        args: true,
    },
    Layout {
        code: 48,
        name: "CALL",
        elements: "idu",
        args: true,
    },
    Layout {
        code: 49,
        name: "CANCEL",
        elements: "id",
        args: false,
    },
    Layout {
        code: 50,
        name: "RESULT",
        elements: "id",
        args: true,
    },
    Layout {
        code: 64,
        name: "REGISTER",
        elements: "idu",
        args: false,
    },
    Layout {
        code: 65,
        name: "REGISTERED",
        elements: "ii",
        args: false,
    },
    Layout {
        code: 66,
        name: "UNREGISTER",
        elements: "ii",
        args: false,
    },
    Layout {
        code: 67,
        name: "UNREGISTERED",
        elements: "i",
        args: false,
    },
    Layout {
        code: 68,
        name: "INVOCATION",
        elements: "iid",
        args: true,
    },
    Layout {
        code: 70,
        name: "YIELD",
        elements: "id",
        args: true,
    },
];
/// INTERRUPT (69) has the layout of CANCEL.
const INTERRUPT: Layout = Layout {
    code: 69,
    name: "INTERRUPT",
    elements: "id",
    args: false,
};

fn layout(code: u64) -> Option<&'static Layout> {
    if code == 69 {
        return Some(&INTERRUPT);
    }
    LAYOUTS.iter().find(|l| l.code == code)
}

/// One WAMP message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WampRecord {
    /// `HELLO`, `CALL`, `RESULT`, ...
    pub kind: &'static str,
    pub code: u64,
    /// The message's request id (for a reply, the request it answers).
    pub request: Option<u64>,
    /// Realm, topic, procedure, error or reason URI.
    pub uri: Option<String>,
    pub session: Option<u64>,
    pub subscription: Option<u64>,
    pub publication: Option<u64>,
    pub registration: Option<u64>,
    /// ERROR: the type of the request that failed.
    pub error_for: Option<&'static str>,
    pub args: Option<Value>,
    pub kwargs: Option<Value>,
    /// Details / Options.
    pub details: Option<Value>,
}

impl WampRecord {
    /// Its `sub` object's fields, in order.
    pub(super) fn members<'m>(&'m self, m: &mut Members<'m>) {
        m.str("type", self.kind);
        m.value("code", &self.code);
        m.opt("request", &self.request);
        m.opt_str("uri", &self.uri);
        m.opt("session", &self.session);
        m.opt("subscription", &self.subscription);
        m.opt("publication", &self.publication);
        m.opt("registration", &self.registration);
        m.opt("error_for", &self.error_for);
        m.opt("args", &self.args);
        m.opt("kwargs", &self.kwargs);
        m.opt("details", &self.details);
    }

    pub fn summary_at(&self, w: usize) -> String {
        let mut s = String::from(self.kind);
        if let Some(e) = self.error_for {
            s.push_str(&format!(" for {e}"));
        }
        if let Some(u) = &self.uri {
            s.push_str(&format!(" {}", quoted(u, wide(w))));
        }
        if let Some(r) = self.request {
            s.push_str(&format!(" request={r}"));
        }
        for (name, v) in [
            ("session", self.session),
            ("subscription", self.subscription),
            ("publication", self.publication),
            ("registration", self.registration),
        ] {
            if let Some(v) = v {
                s.push_str(&format!(" {name}={v}"));
            }
        }
        if let Some(a) = &self.args {
            s.push_str(&format!(" {}", one_line(a, w)));
        }
        s
    }

    pub fn details(&self) -> Vec<Node> {
        let mut v = vec![Node::field(
            "Message",
            format!("{} ({})", self.kind, self.code),
        )];
        if let Some(e) = self.error_for {
            v.push(Node::field("Error for", e));
        }
        if let Some(r) = self.request {
            v.push(Node::field("Request", r));
        }
        if let Some(u) = &self.uri {
            v.push(Node::field("URI", u));
        }
        for (name, val) in [
            ("Session", self.session),
            ("Subscription", self.subscription),
            ("Publication", self.publication),
            ("Registration", self.registration),
        ] {
            if let Some(val) = val {
                v.push(Node::field(name, val));
            }
        }
        for (name, val) in [
            ("Details", &self.details),
            ("Arguments", &self.args),
            ("ArgumentsKw", &self.kwargs),
        ] {
            if let Some(val) = val {
                v.push(Node::json(name, val));
            }
        }
        v
    }

    pub fn pairing(&self) -> Option<Role> {
        let key = || Some(format!("req:{}", self.request?));
        match self.kind {
            "HELLO" => Some(Role::Request {
                key: "hello".into(),
                name: "HELLO".into(),
            }),
            "WELCOME" | "ABORT" => Some(Role::Reply {
                key: "hello".into(),
                error: self.kind == "ABORT",
            }),
            "PUBLISH"
                if self
                    .details
                    .as_ref()
                    .and_then(|d| d.get("acknowledge"))
                    .and_then(Value::as_bool)
                    != Some(true) =>
            {
                None
            }
            "PUBLISH" | "SUBSCRIBE" | "CALL" | "REGISTER" => Some(Role::Request {
                key: key()?,
                name: match &self.uri {
                    Some(u) => format!("{} {u}", self.kind),
                    None => self.kind.into(),
                },
            }),
            "UNSUBSCRIBE" | "UNREGISTER" | "INVOCATION" => Some(Role::Request {
                key: key()?,
                name: self.kind.into(),
            }),
            "PUBLISHED" | "SUBSCRIBED" | "UNSUBSCRIBED" | "REGISTERED" | "UNREGISTERED"
            | "YIELD" => Some(Role::Reply {
                key: key()?,
                error: false,
            }),
            // Progressive call results: the first answers the call.
            "RESULT" => Some(Role::StreamReply {
                key: key()?,
                error: false,
            }),
            "ERROR" => Some(Role::Reply {
                key: key()?,
                error: true,
            }),
            _ => None,
        }
    }
}

/// Checks one message against its layout and reads its fields.
pub fn parse_message(v: &Value) -> Result<WampRecord, String> {
    let Value::Array(a) = v else {
        return Err("a message that is not a JSON array".into());
    };
    let code = a
        .first()
        .and_then(Value::as_u64)
        .ok_or("a message whose first element is not a message code")?;
    let l = layout(code).ok_or_else(|| format!("unknown message code {code}"))?;
    let n = l.elements.len();
    let max = n + if l.args { 2 } else { 0 };
    if a.len() < n + 1 || a.len() > max + 1 {
        return Err(format!(
            "{} with {} elements after the code ({} expected)",
            l.name,
            a.len() - 1,
            if l.args {
                format!("{n} to {max}")
            } else {
                n.to_string()
            }
        ));
    }
    for (i, k) in l.elements.bytes().enumerate() {
        let e = &a[i + 1];
        let ok = match k {
            b'i' => e.as_u64().is_some_and(|v| v <= 1 << 53),
            b'n' => e.is_u64(),
            b'd' => e.is_object(),
            _ => e.is_string(),
        };
        if !ok {
            let what = match k {
                b'i' => "an id",
                b'n' => "an integer",
                b'd' => "a dict",
                b'u' => "a URI",
                _ => "a string",
            };
            return Err(format!(
                "{} element {} ({}) is not {what}",
                l.name,
                i + 1,
                one_line(e, 30)
            ));
        }
    }
    if let Some(args) = a.get(n + 1)
        && !args.is_array()
    {
        return Err(format!("{} Arguments is not a list", l.name));
    }
    if let Some(kw) = a.get(n + 2)
        && !kw.is_object()
    {
        return Err(format!("{} ArgumentsKw is not a dict", l.name));
    }
    let id = |i: usize| a.get(i).and_then(Value::as_u64);
    let s = |i: usize| a.get(i).and_then(Value::as_str).map(str::to_string);
    let d = |i: usize| a.get(i).filter(|v| v.is_object()).cloned();
    let mut r = WampRecord {
        kind: l.name,
        code,
        args: a.get(n + 1).cloned().filter(|_| l.args),
        kwargs: a.get(n + 2).cloned().filter(|_| l.args),
        ..Default::default()
    };
    match code {
        1 => (r.uri, r.details) = (s(1), d(2)),
        2 => (r.session, r.details) = (id(1), d(2)),
        3 | 6 => (r.details, r.uri) = (d(1), s(2)),
        4 | 5 => (r.uri, r.details) = (s(1), d(2)),
        8 => {
            r.error_for = layout(id(1).unwrap_or(0)).map(|l| l.name);
            (r.request, r.details, r.uri) = (id(2), d(3), s(4));
        }
        16 | 32 | 48 | 64 => (r.request, r.details, r.uri) = (id(1), d(2), s(3)),
        17 => (r.request, r.publication) = (id(1), id(2)),
        33 => (r.request, r.subscription) = (id(1), id(2)),
        34 => (r.request, r.subscription) = (id(1), id(2)),
        36 => (r.subscription, r.publication, r.details) = (id(1), id(2), d(3)),
        65 | 66 => (r.request, r.registration) = (id(1), id(2)),
        68 => (r.request, r.registration, r.details) = (id(1), id(2), d(3)),
        _ => (r.request, r.details) = (id(1), d(2)),
    }
    Ok(r)
}

pub(super) fn decode(sink: &mut Sink<'_>) {
    let Some(text) = sink.text(SubProtocol::Wamp) else {
        return;
    };
    let Some(v) = sink.json(SubProtocol::Wamp, text) else {
        return;
    };
    match parse_message(&v) {
        Ok(r) => sink.record(SubRecord::Wamp(r)),
        Err(e) => sink.warn(Code::SubWampInvalid, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(v: Value) -> WampRecord {
        parse_message(&v).unwrap()
    }

    // Examples of the specification's message definitions.
    #[test]
    fn specification_examples() {
        let r = ok(json!([1, "somerealm", {"roles": {"publisher": {}, "subscriber": {}}}]));
        assert_eq!(r.summary_at(40), "HELLO \"somerealm\"");
        let r = ok(json!([2, 9129137332_u64, {"roles": {"broker": {}}}]));
        assert_eq!(r.session, Some(9129137332));
        let r =
            ok(json!([3, {"message": "The realm does not exist."}, "wamp.error.no_such_realm"]));
        assert!(matches!(r.pairing(), Some(Role::Reply { error: true, .. })));
        let r = ok(
            json!([6, {"message": "The host is shutting down now."}, "wamp.close.system_shutdown"]),
        );
        assert_eq!(r.uri.as_deref(), Some("wamp.close.system_shutdown"));
        let r = ok(json!([32, 713845233, {}, "com.myapp.mytopic1"]));
        assert_eq!(
            r.pairing(),
            Some(Role::Request {
                key: "req:713845233".into(),
                name: "SUBSCRIBE com.myapp.mytopic1".into()
            })
        );
        let r = ok(json!([33, 713845233, 5512315355_u64]));
        assert_eq!(r.subscription, Some(5512315355));
        let r = ok(json!([8, 32, 713845233, {}, "wamp.error.not_authorized"]));
        assert_eq!(
            r.summary_at(40),
            "ERROR for SUBSCRIBE \"wamp.error.not_authorized\" request=713845233"
        );
        let r = ok(json!([
            16,
            239714735,
            {},
            "com.myapp.mytopic1",
            ["Hello, world!"]
        ]));
        assert_eq!(r.pairing(), None);
        let r = ok(
            json!([16, 239714735, {"acknowledge": true}, "com.myapp.mytopic1", [], {"color": "orange"}]),
        );
        assert!(r.pairing().is_some());
        assert_eq!(r.kwargs, Some(json!({"color": "orange"})));
        let r = ok(
            json!([36, 5512315355_u64, 4429313566_u64, {}, [], {"color": "orange", "sizes": [23, 42, 7]}]),
        );
        assert_eq!(r.publication, Some(4429313566));
        let r = ok(json!([
            48,
            7814135,
            {},
            "com.myapp.echo",
            ["Hello, world!"]
        ]));
        assert_eq!(
            r.summary_at(40),
            "CALL \"com.myapp.echo\" request=7814135 [\"Hello, world!\"]"
        );
        let r = ok(json!([50, 7814135, {}, [30]]));
        assert!(matches!(r.pairing(), Some(Role::StreamReply { .. })));
        let r = ok(json!([64, 25349185, {}, "com.myapp.myprocedure1"]));
        assert_eq!(r.kind, "REGISTER");
        let r = ok(json!([68, 6131533, 9823528, {}, ["johnny"], {"firstname": "John"}]));
        assert_eq!(r.registration, Some(9823528));
        let r = ok(json!([70, 6131533, {}, ["Hello, world!"]]));
        assert_eq!(r.kind, "YIELD");
        assert_eq!(ok(json!([69, 6131533, {}])).kind, "INTERRUPT");
    }

    #[test]
    fn malformed_messages() {
        for bad in [
            json!({"a": 1}),
            json!([]),
            json!(["HELLO"]),
            json!([99, 1]),
            json!([1, "realm"]),
            json!([1, 5, {}]),
            json!([48, 1, {}, "p", {}]),
            json!([48, 1, {}, "p", [], []]),
            json!([48, 1, {}, "p", [], {}, 7]),
            json!([17, -1, 2]),
            json!([17, 9007199254740993_u64, 2]),
        ] {
            assert!(parse_message(&bad).is_err(), "{bad}");
        }
    }
}
