//! HTTP/1.x as a dissector: how a connection is recognised as HTTP ([`ByPort`], [`StartLine`]), and
//! what follows an upgrade. After a `101 Switching Protocols` the connection is handed, at the
//! exact byte after each side's head, to the protocol the `Upgrade` names (a
//! [`Switch`](crate::proto::dissect::Switch) of the registry), with the client bytes sent early fed
//! to it first; an upgrade to a protocol sockscope does not read (h2c) leaves the rest of the
//! connection opaque.
//!
//! When the handshake is cut short (a short snaplen cuts every head) or lost in a gap after an
//! upgrade was asked for or its 101 began, HTTP loses its framing; each protocol an upgrade can
//! switch to is then asked whether the bytes that follow are its own
//! ([`Switch::resume`](crate::proto::dissect::Switch::resume)), with the evidence rules of a
//! detector. Without such a hint, bytes in an HTTP stream are HTTP (or body bytes), never another
//! protocol.

use super::{Feed, HttpConn};
use crate::budget::{Held, box_bytes};
use crate::proto::dissect::{Active, Cx, Detect, Detector, Dissector, Kept, Probe, Step};
use crate::tcp::Dir;

/// The HTTP dissector of one connection.
pub struct HttpDissector {
    conn: HttpConn,
    /// A delivery a protocol asked to keep while HTTP resynchronises after an upgrade hint,
    /// and which protocol (its index among the switches).
    kept: Option<(usize, Box<Kept>)>,
}

impl HttpDissector {
    /// A connection read from its first byte (`midstream`: picked up in the middle, so both
    /// directions first look for a start line).
    pub fn new(cx: &Cx<'_>, midstream: bool) -> Self {
        let config = cx.config;
        let mut conn = HttpConn::new(&config.limits, cx.display_bytes()).with_digest(config.digest);
        if midstream {
            conn.picked_up_midstream();
        }
        HttpDissector { conn, kept: None }
    }

    /// After an upgrade hint, HTTP resynchronising on `dir`: whether a protocol the upgrade could
    /// switch to recognises these bytes.
    fn resumed(&mut self, cx: &mut Cx<'_>, dir: Dir, bytes: &[u8]) -> Option<Step> {
        let kept = self.kept.take();
        let registry = cx.registry;
        for (i, switch) in registry.switches.iter().enumerate() {
            let probe = Probe {
                midstream: true,
                kept: kept.as_ref().filter(|(by, _)| *by == i).map(|(_, k)| &**k),
            };
            match switch.resume(cx, &probe, dir, bytes) {
                Detect::Take(next) => return Some(Step::HandOff { next, consumed: 0 }),
                Detect::NeedMore => {
                    self.kept = Some((i, Kept::new(dir, cx.pkt, bytes)));
                    return None;
                }
                Detect::Pass => {}
            }
        }
        None
    }
}

impl Dissector for HttpDissector {
    fn name(&self) -> &'static str {
        "HTTP"
    }

    fn feed(&mut self, cx: &mut Cx<'_>, dir: Dir, bytes: &[u8]) -> Step {
        if self.conn.is_resyncing(dir) && self.conn.upgrade_hinted() {
            if let Some(step) = self.resumed(cx, dir, bytes) {
                return step;
            }
        } else {
            self.kept = None;
        }
        let Feed::Upgraded { offset } = self.conn.feed(dir, bytes, cx) else {
            return Step::Continue;
        };
        let mut upgrade = self.conn.take_upgrade().unwrap_or_default();
        let registry = cx.registry;
        let Some(switch) = registry.switch_for(&upgrade) else {
            // h2c and friends: a protocol sockscope does not read.
            return Step::Opaque;
        };
        let held = std::mem::take(&mut upgrade.held_c2s);
        let mut next = Active::Reading(switch.start(cx, &upgrade));
        if !held.is_empty() {
            next.feed(cx, Dir::C2S, &held);
        }
        match next {
            Active::Reading(next) => Step::HandOff {
                next,
                consumed: offset,
            },
            _ => Step::Opaque,
        }
    }

    fn gap(&mut self, cx: &mut Cx<'_>, dir: Dir, len: u64) {
        // Evidence kept must be confirmed by the delivery right after it, not across a hole.
        self.kept = None;
        self.conn.gap(dir, len, cx);
    }

    fn end(&mut self, cx: &mut Cx<'_>, dir: Dir) {
        self.conn.end(dir, cx);
    }

    fn finish(&mut self, cx: &mut Cx<'_>) {
        self.conn.finish(cx);
    }

    fn held(&self) -> Held {
        let kept = self.kept.as_ref().map_or(Held::ZERO, |(_, k)| k.held());
        Held::fixed(box_bytes::<Self>()) + self.conn.held() + kept
    }

    fn give_way(&mut self, cx: &mut Cx<'_>) {
        self.conn.give_way(cx);
        if let Some((_, k)) = self.kept.as_mut() {
            k.give_way();
        }
    }
}

/// A flow seen from its SYN on an HTTP port (`-p`, default 80) is HTTP by definition: what does
/// not parse is reported as such.
pub struct ByPort;

impl Detector for ByPort {
    fn detect(&self, cx: &mut Cx<'_>, probe: &Probe<'_>, _dir: Dir, _bytes: &[u8]) -> Detect {
        let meta = cx.flow;
        let by_port = cx
            .config
            .http_ports
            .iter()
            .any(|&p| p == meta.server.port() || p == meta.client.port());
        if by_port && !probe.midstream {
            Detect::Take(Box::new(HttpDissector::new(cx, false)))
        } else {
            Detect::Pass
        }
    }
}

/// A request line from the client makes a flow HTTP; picked up mid-stream, so does a status
/// line from the server.
pub struct StartLine;

impl Detector for StartLine {
    fn detect(&self, cx: &mut Cx<'_>, probe: &Probe<'_>, dir: Dir, bytes: &[u8]) -> Detect {
        let request = dir == Dir::C2S && super::looks_like_request(bytes);
        let response = probe.midstream && dir == Dir::S2C && super::looks_like_response(bytes);
        if request || response {
            Detect::Take(Box::new(HttpDissector::new(cx, probe.midstream)))
        } else {
            Detect::Pass
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{looks_like_request, looks_like_response};
    use super::*;
    use crate::model::{Event, EventCtx, EventSink, HttpHead, Record};
    use crate::proto::dissect::Solo;

    /// Keeps where each HTTP record was found and the layers it came through.
    #[derive(Default)]
    struct Found(Vec<(String, Vec<&'static str>)>);

    impl EventSink for Found {
        fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
            if let Event::Record(Record::Http(m)) = event {
                let line = match m.head {
                    HttpHead::Request { method, target, .. } => format!("{method} {target}"),
                    HttpHead::Response { status, reason, .. } => format!("{status} {reason}"),
                };
                let layers = ctx.layer.map(|l| l.names()).unwrap_or_default();
                self.0.push((line, layers));
            }
        }
    }

    /// An outer protocol that frames its payload as `len, bytes…` and owns an HTTP dissector
    /// for what it carries, as TLS owns the protocol its ALPN names.
    struct Framed {
        inner: HttpDissector,
    }

    impl Dissector for Framed {
        fn name(&self) -> &'static str {
            "Framed"
        }
        fn feed(&mut self, cx: &mut Cx<'_>, dir: Dir, bytes: &[u8]) -> Step {
            let mut rest = bytes;
            while let [len, tail @ ..] = rest {
                let (payload, next) = tail.split_at(usize::from(*len).min(tail.len()));
                cx.inside(self.name(), |cx| self.inner.feed(cx, dir, payload));
                rest = next;
            }
            Step::Continue
        }
        fn gap(&mut self, _cx: &mut Cx<'_>, _dir: Dir, _len: u64) {}
        fn finish(&mut self, cx: &mut Cx<'_>) {
            cx.inside(self.name(), |cx| self.inner.finish(cx));
        }
        fn held(&self) -> Held {
            self.inner.held()
        }
        fn give_way(&mut self, cx: &mut Cx<'_>) {
            cx.inside(self.name(), |cx| self.inner.give_way(cx));
        }
    }

    #[test]
    fn an_inner_dissector_reports_through_the_same_context_with_its_layers() {
        let mut solo = Solo::test();
        let mut found = Found::default();
        let mut d = {
            let cx = solo.cx(None, &mut found);
            Framed {
                inner: HttpDissector::new(&cx, false),
            }
        };
        let request = b"GET /in HTTP/1.1\r\n\r\n";
        let mut wire = vec![10u8];
        wire.extend_from_slice(&request[..10]);
        wire.push(10);
        wire.extend_from_slice(&request[10..]);
        d.feed(&mut solo.cx(None, &mut found), Dir::C2S, &wire);
        let response = b"HTTP/1.1 204 No Content\r\n\r\n";
        let mut wire = vec![response.len() as u8];
        wire.extend_from_slice(response);
        d.feed(&mut solo.cx(None, &mut found), Dir::S2C, &wire);
        assert_eq!(
            found.0,
            [
                ("GET /in".to_string(), vec!["Framed"]),
                ("204 No Content".to_string(), vec!["Framed"]),
            ]
        );
        // What the inner dissector found is counted in the flow's summary.
        assert_eq!(solo.summary.http_messages, 2);
        assert_eq!(solo.summary.l7_header_bytes, [20, 27]);
    }

    #[test]
    fn request_and_response_lines() {
        assert!(looks_like_request(b"GET /chat HTTP/1.1\r\n"));
        assert!(!looks_like_request(b"GETX"));
        assert!(!looks_like_request(b"GE"));
        assert!(looks_like_response(b"HTTP/1.1 101 Switching Protocols\r\n"));
    }
}
