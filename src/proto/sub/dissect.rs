//! The sub-protocol as a message sub-dissector of one WebSocket connection ([`SubHook`]): the
//! WebSocket dissector hands it every complete data message, it chooses the protocol
//! ([`select`]) and decodes with a [`SubConn`], and gives back what each message
//! meant ([`SubUnit`]s for the message's record), its warnings as anomalies, the choice for the
//! flow record and `-V`, and at the end the connection's `latency` records.
//!
//! Promises: a connection for which nothing is chosen at the handshake and nothing recognised
//! in its first messages has no hook at all (the WebSocket dissector drops it), so undecoded
//! connections cost nothing per message; what a hook holds is reported for the memory budget
//! and given up when asked ([`SubHook::give_way`], `sub.budget`).

use super::select::{self, Basis, ConnInfo, DecodeAs, MAX_CONTENT_TRIES, Selection, Verdict};
use super::{Item, Message, Output, SubConn, SubLimits, SubProtocol};
use crate::budget::box_bytes;
use crate::model::{Code, Record, SubChoice, SubReply, SubUnit};
use crate::proto::dissect::Cx;
use crate::tcp::Dir;
use std::borrow::Cow;

/// Why a connection whose first messages were looked at is not decoded.
const NOTHING_RECOGNISED: &str = "nothing recognised in the first 4 messages";
const _: () = assert!(MAX_CONTENT_TRIES == 4, "NOTHING_RECOGNISED says 4");

/// What the WebSocket dissector knows at the handshake.
#[derive(Clone, Debug, Default)]
pub struct Opening<'a> {
    /// The negotiated `Sec-WebSocket-Protocol`.
    pub subprotocol: Option<&'a str>,
    /// The upgrade request's target.
    pub target: Option<&'a str>,
}

enum State {
    /// Nothing chosen yet: the first messages are looked at.
    Pending {
        tries: u32,
    },
    On(Box<SubConn>),
    /// Given up (memory budget) or nothing recognised: no more decoding.
    Off,
}

/// One WebSocket connection's sub-protocol decoding.
pub struct SubHook {
    state: State,
    /// Units of the message being decoded, handed to its record.
    units: Vec<SubUnit>,
    /// The choice, told with the first message decoded under it.
    choice: Option<SubChoice>,
    told: bool,
    /// Chosen as plain JSON by content alone: weak evidence, so messages that are not JSON
    /// are shown as they are, without a warning.
    quiet: bool,
    /// Bytes held, as last counted.
    held: usize,
    /// What the message being decoded produced (kept: no allocation per message).
    out: Output,
}

/// What one message meant: its units, and on the first message decoded under a choice, the
/// choice.
pub struct Decoded<'h> {
    pub units: &'h [SubUnit],
    pub choice: Option<&'h SubChoice>,
}

fn choice_of(s: &Selection) -> SubChoice {
    SubChoice {
        protocol: Some(s.protocol.as_str()),
        basis: Some(s.basis.as_str()),
        reason: s.reason.clone().into(),
        engineio: s.engineio,
    }
}

fn off(reason: impl Into<Cow<'static, str>>) -> SubChoice {
    SubChoice {
        protocol: None,
        basis: None,
        reason: reason.into(),
        engineio: None,
    }
}

fn conn_info<'a>(
    cx: &Cx<'_>,
    subprotocol: Option<&'a str>,
    target: Option<&'a str>,
) -> ConnInfo<'a> {
    ConnInfo {
        flow: cx.flow.id,
        client_port: cx.flow.client.port(),
        server_port: cx.flow.server.port(),
        subprotocol,
        target,
    }
}

impl SubHook {
    /// The hook of a connection opened by `opening` (`None`: recognised without a handshake),
    /// or `None` when the connection will not be decoded (the flow record says why).
    pub fn open(
        cx: &mut Cx<'_>,
        rules: &DecodeAs,
        opening: Option<Opening<'_>>,
    ) -> Option<Box<SubHook>> {
        let o = opening.clone().unwrap_or_default();
        let info = conn_info(cx, o.subprotocol, o.target);
        let mut choice = None;
        let state = match select::select(&info, rules, None) {
            Verdict::Chosen(s) => {
                let c = choice_of(&s);
                cx.set_sub(c.clone());
                choice = Some(c);
                State::On(Box::new(SubConn::new(s, SubLimits::default())))
            }
            Verdict::Off(why) => {
                cx.set_sub(off(why));
                return None;
            }
            Verdict::Pending => {
                cx.set_sub(off(NOTHING_RECOGNISED));
                State::Pending { tries: 0 }
            }
        };
        Some(Box::new(SubHook {
            state,
            units: Vec::new(),
            choice,
            told: false,
            quiet: false,
            held: box_bytes::<SubHook>(),
            out: Output::default(),
        }))
    }

    /// Whether the messages are decoded once a protocol is chosen. Plain JSON chosen by its
    /// content reports nothing of its own (no warnings, no replies to pair): what it decodes
    /// is only in the messages' records, so where no output reads those records (`-q`) it is
    /// not decoded, and its messages need not be kept for it.
    pub fn decodes(&self, cx: &Cx<'_>) -> bool {
        !self.quiet || cx.wants_message_records()
    }

    /// Whether no protocol is chosen yet: the first messages are being looked at.
    pub fn is_pending(&self) -> bool {
        matches!(self.state, State::Pending { .. })
    }

    /// Whether the hook has stopped decoding: the dissector drops it.
    pub fn is_off(&self) -> bool {
        matches!(self.state, State::Off)
    }

    /// Decodes one complete data message (`payload` its first bytes, `len` its length); the
    /// warnings go out as anomalies now, the units are returned for the message's record.
    pub fn message(
        &mut self,
        cx: &mut Cx<'_>,
        dir: Dir,
        binary: bool,
        payload: &[u8],
        len: u64,
    ) -> Decoded<'_> {
        self.units.clear();
        let msg = Message {
            dir,
            ts: cx.now(),
            frame: cx.pkt.map_or(0, |p| p.frame),
            binary,
            payload,
            len,
        };
        if let State::Pending { tries } = &mut self.state {
            // The handshake, the rules and the URL were weighed at the opening: only the
            // content is left to look at.
            *tries += 1;
            match select::by_content(&msg) {
                Some((protocol, reason, engineio)) => {
                    let s = Selection {
                        protocol,
                        basis: Basis::Content,
                        reason,
                        engineio,
                    };
                    let c = choice_of(&s);
                    cx.set_sub(c.clone());
                    self.choice = Some(c);
                    self.quiet = s.protocol == SubProtocol::Json;
                    self.state = State::On(Box::new(SubConn::new(s, SubLimits::default())));
                }
                None if *tries >= MAX_CONTENT_TRIES => self.state = State::Off,
                None => {}
            }
        }
        let decodes = self.decodes(cx);
        let State::On(conn) = &mut self.state else {
            return Decoded {
                units: &self.units,
                choice: None,
            };
        };
        if decodes {
            conn.message_into(&msg, self.quiet, &mut self.out);
            for w in self.out.warnings.drain(..).filter(|_| !self.quiet) {
                cx.anomaly_at(w.ts, w.code, Some(w.dir), w.detail);
            }
            self.units.extend(self.out.items.drain(..).map(unit));
            self.count_held();
        }
        let tell = !std::mem::replace(&mut self.told, true);
        Decoded {
            units: &self.units,
            choice: self.choice.as_ref().filter(|_| tell),
        }
    }

    /// `dir` lost bytes inside the WebSocket stream.
    pub fn gap(&mut self, cx: &mut Cx<'_>, dir: Dir) {
        if let State::On(conn) = &mut self.state {
            let out = conn.gap(dir, cx.now(), cx.pkt.map_or(0, |p| p.frame));
            for w in out.warnings {
                cx.anomaly_at(w.ts, w.code, Some(w.dir), w.detail);
            }
        }
        self.count_held();
    }

    /// The connection ended: what was left unfinished, then the `latency` records.
    pub fn finish(&mut self, cx: &mut Cx<'_>) {
        let State::On(conn) = &mut self.state else {
            return;
        };
        let out = conn.finish(cx.now(), cx.pkt.map_or(0, |p| p.frame));
        for w in out.warnings {
            cx.anomaly_at(w.ts, w.code, Some(w.dir), w.detail);
        }
        let protocol = conn.selection().protocol;
        for r in conn.latency().records(cx.flow.id, protocol) {
            cx.emit(Record::Latency(&r));
        }
    }

    /// Bytes held for the memory budget: partial MQTT packets, pending requests and latency
    /// statistics, the units of the last message.
    /// What it holds changes only when a message, a gap or the end is decoded: counted then,
    /// read here (the budget asks on every packet).
    pub fn held(&self) -> usize {
        self.held
    }

    fn count_held(&mut self) {
        let conn = match &self.state {
            State::On(conn) => box_bytes::<SubConn>() + conn.held_bytes(),
            _ => 0,
        };
        self.held =
            box_bytes::<SubHook>() + conn + self.units.capacity() * std::mem::size_of::<SubUnit>();
    }

    /// The memory budget ran short: decoding stops on this connection (`sub.budget`), its
    /// partial packets and pending requests are dropped. The latency measured so far is lost
    /// with them.
    pub fn give_way(&mut self, cx: &mut Cx<'_>) {
        if let State::On(conn) = &self.state {
            let detail = format!(
                "{} decoding stopped (memory budget): {} bytes of partial packets, pending \
                 requests and latency statistics dropped",
                conn.selection().protocol.display_name(),
                conn.held_bytes()
            );
            cx.anomaly(Code::SubBudget, None, detail);
            let mut choice = choice_of(conn.selection());
            choice
                .reason
                .to_mut()
                .push_str("; decoding stopped by the memory budget");
            cx.set_sub(choice);
        }
        self.state = State::Off;
        self.units = Vec::new();
        self.count_held();
    }
}

/// A decoded item as the record model holds it.
fn unit(item: Item) -> SubUnit {
    let Item {
        record, reply_to, ..
    } = item;
    SubUnit {
        meaning: record,
        reply_to: reply_to.map(|p| SubReply {
            request_frame: p.request_frame,
            latency: p.latency,
            name: p.name,
            error: p.error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::dissect::{Solo, Tables};

    #[test]
    fn plain_json_chosen_by_content_is_decoded_only_where_its_records_are_read() {
        let json = br#"{"user":"ann","text":"hi"}"#;
        for records in [true, false] {
            let mut solo = Solo::test();
            let mut sink = Tables::reading(records);
            let cx = &mut solo.cx(None, &mut sink);
            let mut hook = SubHook::open(cx, &DecodeAs::default(), None).expect("a hook");
            assert!(hook.is_pending());
            let first = hook.message(cx, Dir::C2S, false, json, json.len() as u64);
            assert_eq!(first.units.len(), usize::from(records));
            assert!(!hook.is_pending() && !hook.is_off());
            assert_eq!(hook.decodes(cx), records);
            let next = hook.message(cx, Dir::S2C, false, json, json.len() as u64);
            assert_eq!(next.units.len(), usize::from(records));
        }
    }

    #[test]
    fn a_protocol_with_warnings_of_its_own_is_decoded_whatever_is_read() {
        let rpc = br#"{"jsonrpc":"2.0","method":"ping","id":1}"#;
        let mut solo = Solo::test();
        let mut sink = Tables::reading(false);
        let cx = &mut solo.cx(None, &mut sink);
        let mut hook = SubHook::open(cx, &DecodeAs::default(), None).expect("a hook");
        let first = hook.message(cx, Dir::C2S, false, rpc, rpc.len() as u64);
        assert_eq!(first.units.len(), 1);
        assert!(hook.decodes(cx));
    }
}
