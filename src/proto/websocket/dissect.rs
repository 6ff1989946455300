//! WebSocket as a dissector ([`WsDissector`]), and how a connection becomes WebSocket
//! ([`WebSocket`]): after an HTTP `101` that accepted an upgrade to `websocket` (the handshake
//! is checked and reported first), or, without a handshake, on the evidence [`detect`] demands —
//! strong evidence in one delivery, or weak evidence confirmed by the next delivery (either
//! direction: a ping and its pong; the first is then decoded too, as of its own packet). Without
//! a handshake this happens on a connection picked up mid-stream, or inside an HTTP stream
//! whose upgrade was asked for (or whose 101 began) before its framing was lost.
//!
//! [`detect`]: super::detect

use super::detect::{self, Evidence};
use super::{InflaterBudget, WsConn, check_handshake};
use crate::budget::{Held, box_bytes};
use crate::config::Config;
use crate::model::{Code, Handshake, Record};
use crate::proto::dissect::{
    Cx, Detect, Detector, Dissector, Kept, Probe, Spares, Step, Switch, Upgrade,
};
use crate::proto::sub::DecodeAs;
use crate::proto::sub::dissect::Opening;
use crate::tcp::Dir;
use std::sync::Arc;

/// The WebSocket dissector of one connection.
pub struct WsDissector {
    conn: WsConn,
}

impl Dissector for WsDissector {
    fn name(&self) -> &'static str {
        "WebSocket"
    }

    fn feed(&mut self, cx: &mut Cx<'_>, dir: Dir, bytes: &[u8]) -> Step {
        self.conn.feed(dir, bytes, cx);
        Step::Continue
    }

    fn gap(&mut self, cx: &mut Cx<'_>, dir: Dir, len: u64) {
        self.conn.gap(dir, len, cx);
    }

    fn finish(&mut self, cx: &mut Cx<'_>) {
        self.conn.finish(cx);
        cx.set_ping_rtts(self.conn.take_ping_rtts());
    }

    fn held(&self) -> Held {
        Held::fixed(box_bytes::<Self>()) + self.conn.held()
    }

    fn give_way(&mut self, cx: &mut Cx<'_>) {
        self.conn.give_way(cx);
    }
}

/// WebSocket in a run: the detector of frames without a handshake and the switch an HTTP
/// upgrade names. Holds the run's budget of permessage-deflate inflaters, which every
/// connection draws on.
#[derive(Clone)]
pub struct WebSocket {
    inflaters: InflaterBudget,
    /// `--decode-as`: which sub-protocol the messages carry, per port or flow.
    decode_as: Arc<DecodeAs>,
}

/// What one delivery shows, with the one kept before it.
enum Shown {
    Frames,
    /// Weak evidence alone: keep the delivery and see the next.
    Maybe,
    Nothing,
}

impl WebSocket {
    pub fn new(config: &Config) -> Self {
        WebSocket {
            inflaters: InflaterBudget::new(config.limits.max_inflaters),
            // The CLI refuses rules that do not parse; a library caller's are ignored.
            decode_as: Arc::new(DecodeAs::parse(&config.decode_as).unwrap_or_default()),
        }
    }

    /// A connection's dissector, after `handshake` (with the upgrade request's target) or
    /// (`None`) without one.
    fn dissector(
        &self,
        cx: &mut Cx<'_>,
        handshake: Option<(&Handshake, Option<&str>)>,
    ) -> WsDissector {
        let config = cx.config;
        let display = cx.display_bytes();
        let opening = handshake.map(|(h, target)| Opening {
            subprotocol: h.subprotocol.as_deref(),
            target,
        });
        let conn = WsConn::new(handshake.map(|(h, _)| h), &config.limits, display)
            .with_inflater_budget(self.inflaters.clone())
            .with_digest(config.digest)
            .with_sub(cx, &self.decode_as, opening, &config.limits);
        WsDissector { conn }
    }

    /// The kept delivery was confirmed: says so if its bytes were given up for the memory
    /// budget, since they are not decoded.
    fn report_dropped(cx: &mut Cx<'_>, kept: &Kept) {
        if kept.dropped == 0 {
            return;
        }
        let detail = format!(
            "{} bytes that looked like WebSocket framing were dropped while awaiting \
             confirmation (memory budget); the next delivery confirmed them, but they are not \
             decoded",
            kept.dropped
        );
        cx.as_of(kept.pkt, |cx| {
            cx.anomaly(Code::WsBudgetCandidate, Some(kept.dir), detail)
        });
    }

    fn shown(probe: &Probe<'_>, dir: Dir, bytes: &[u8]) -> Shown {
        match detect::evidence(bytes, dir == Dir::C2S) {
            Evidence::Strong => Shown::Frames,
            Evidence::Weak if probe.kept.is_some() => Shown::Frames,
            Evidence::Weak => Shown::Maybe,
            Evidence::None => Shown::Nothing,
        }
    }
}

impl Detector for WebSocket {
    /// Only on a connection picked up mid-stream: one seen from its SYN shows its handshake.
    fn detect(&self, cx: &mut Cx<'_>, probe: &Probe<'_>, dir: Dir, bytes: &[u8]) -> Detect {
        if !probe.midstream {
            return Detect::Pass;
        }
        match Self::shown(probe, dir, bytes) {
            Shown::Frames => {
                cx.mark_websocket();
                let mut ws = self.dissector(cx, None);
                if let Some(k) = probe.kept {
                    Self::report_dropped(cx, k);
                    cx.as_of(k.pkt, |cx| ws.conn.feed(k.dir, &k.bytes, cx));
                }
                Detect::Take(Box::new(ws))
            }
            Shown::Maybe => Detect::NeedMore,
            Shown::Nothing => Detect::Pass,
        }
    }
}

impl Spares for WebSocket {
    fn spare_bytes(&self) -> usize {
        self.inflaters.spare_bytes()
    }

    fn drop_spares(&self) {
        self.inflaters.drop_spares();
    }
}

impl Switch for WebSocket {
    fn token(&self) -> &'static str {
        "websocket"
    }

    fn start(&self, cx: &mut Cx<'_>, upgrade: &Upgrade) -> Box<dyn Dissector> {
        let hs = check_handshake(upgrade, cx);
        cx.emit(Record::Handshake(&hs));
        Box::new(self.dissector(cx, Some((&hs, upgrade.request_target.as_deref()))))
    }

    /// Frames after the handshake was lost are decoded as a connection picked up mid-way: the
    /// other direction resumes at a plausible frame header, unless the kept delivery was its.
    fn resume(&self, cx: &mut Cx<'_>, probe: &Probe<'_>, dir: Dir, bytes: &[u8]) -> Detect {
        match Self::shown(probe, dir, bytes) {
            Shown::Frames => {}
            Shown::Maybe => return Detect::NeedMore,
            Shown::Nothing => return Detect::Pass,
        }
        cx.anomaly(
            Code::WsResync,
            Some(dir),
            "HTTP framing lost in a gap; WebSocket frames recognised after it, decoding them \
             without the handshake"
                .to_string(),
        );
        cx.mark_websocket();
        let mut ws = self.dissector(cx, None);
        if let Some(k) = probe.kept {
            Self::report_dropped(cx, k);
        }
        match probe.kept {
            Some(k) if k.dir != dir => {
                cx.as_of(k.pkt, |cx| ws.conn.feed(k.dir, &k.bytes, cx));
            }
            Some(k) => {
                ws.conn.lost_sync(dir.other());
                cx.as_of(k.pkt, |cx| ws.conn.feed(dir, &k.bytes, cx));
            }
            None => ws.conn.lost_sync(dir.other()),
        }
        Detect::Take(Box::new(ws))
    }
}
