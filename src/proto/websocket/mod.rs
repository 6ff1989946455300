//! WebSocket (RFC 6455): the opening handshake check, frame header parsing, unmasking, message
//! assembly with permessage-deflate (RFC 7692), and every framing rule, each violation an
//! anomaly while decoding continues as long as the framing holds.
//!
//! Layout: [`handshake`] checks the upgrade, [`frame`] is the zero-copy header view, [`mask`]
//! unmasks, [`message`] validates UTF-8 and inflates, [`close`] knows the close codes,
//! [`detect`] weighs the evidence of frames without a handshake, [`WsConn`] here drives both
//! directions of a connection, and [`dissect`] makes it a dissector of the protocol layer.
//!
//! Promises:
//! - Streaming: a frame is never buffered. Per direction only a partial header (≤ 14 bytes), the
//!   first bytes of the current frame and message (the display head, capped), a UTF-8 carry
//!   (≤ 3 bytes) and, with permessage-deflate, one inflater (zlib's state and 32 KiB window,
//!   and an output window that grows with the output up to 32 KiB and doubles as the window
//!   history) are kept. A 2^62-byte length claim costs nothing but a counter.
//!   [`WsConn::held`] says what that comes to for the memory budget, and [`WsConn::give_way`]
//!   gives up the inflaters, display heads and pending pings, each loss with its anomaly.
//! - Only bytes someone needs are unmasked: text (for UTF-8 validation), compressed data (for
//!   the inflater) and the display heads. The rest of a masked binary frame is only counted.
//! - No input panics; every length is checked; anomalies are events and decoding goes on while
//!   the framing holds. Anomalies are emitted as soon as they are known, so one about a frame's
//!   header precedes that frame's `WsFrame` event, and one found at a message's end
//!   (incomplete UTF-8, inflate error on the tail) precedes its `WsMessage`.
//!
//! The handshake: [`check_handshake`] is called with an accepted upgrade, so the response is a
//! 101 (refusals are the HTTP layer's `ws.upgrade_refused`); it returns the record, which the
//! caller ([`dissect`], the switch after a 101) emits. Inflation always uses a 15-bit window,
//! which decodes any stream compressed with a smaller `*_max_window_bits`.
//!
//! Mid-stream connections (`WsConn::new(None, ..)`): frames are decoded from the first byte
//! given. Without the handshake, negotiation is unknown: RSV1 on the first frame of a data
//! message is taken as permessage-deflate (the only extension in common use) without an
//! anomaly, RSV1 elsewhere and RSV2/RSV3 are still flagged. Continuation frames before the
//! first message start belong to a message whose start was missed: no anomaly, no `WsMessage`.
//! Inflation starts with an empty window, so a message referring back to unseen history fails;
//! DEFLATE reports such a reference as an error (never garbage), which here is not an anomaly:
//! the message gets no UTF-8 verdict and the next message is tried with a fresh window.
//!
//! Negotiated extensions other than permessage-deflate: what they do with the RSV bits is
//! unknown, so RSV bits are not flagged and messages with RSV1 (not claimed by
//! permessage-deflate) get no UTF-8 verdict. RSV1 set where no extension allows it is flagged
//! and that message, whose encoding is then unknown, gets no UTF-8 verdict either.
//!
//! Gaps (`gap(dir, len)`) and resynchronisation:
//! - A gap that lies entirely inside the current frame's payload keeps the framing: the bytes
//!   are counted as lost, the frame and its message are marked damaged (display heads stop
//!   growing, no UTF-8 verdict, the close code/reason only if their bytes were seen). A
//!   compressed message stops inflating; with context takeover on that direction the LZ77
//!   window is now wrong, so that direction is no longer inflated (reported as `ws.resync`);
//!   without context takeover inflation resumes at the next message.
//! - Any other gap (covering a header, or crossing the end of the current frame) loses the
//!   framing. The frame in progress, if its end lies inside the gap, is completed as damaged;
//!   the message in progress is dropped; with context takeover inflation of that direction
//!   stops. The direction then scans for a frame header, strictly: FIN set on control frames,
//!   RSV2/RSV3 clear, RSV1 only where permessage-deflate may put it, a defined opcode other
//!   than continuation, the MASK bit this direction used last (or should use), a minimally encoded length, control
//!   payloads ≤ 125. A candidate is accepted if the next frame's header, at exactly the
//!   position its length implies, is complete inside the same delivered chunk and equally
//!   plausible, or if the candidate is the first byte after the gap and its frame ends exactly
//!   at the end of that chunk (a segment that starts and ends with a frame). Decoding resumes
//!   there; if captured bytes had to be skipped to get there, `ws.resync` (warning) says how
//!   many (resuming on the first byte after the gap loses nothing beyond the gap, which
//!   `tcp.gap` already reports, so it raises nothing more). If no candidate is found
//!   within [`RESYNC_SCAN_LIMIT`] bytes the direction is no longer decoded, also reported as
//!   `ws.resync`. The message state after a resynchronisation is unknown, like mid-stream.
//!
//! The `max_inflaters` cap is global, so it cannot be enforced inside one connection: one
//! [`InflaterBudget`] is made per analysis run (per worker with `--threads`, each with the
//! whole count: [`crate::config::Config::share`]) by [`dissect::WebSocket`] and a clone handed to
//! every connection with [`WsConn::with_inflater_budget`]. An inflater takes a slot when a direction's first
//! compressed message arrives and returns it when the connection ends (or stops inflating). If
//! no slot is free, `ws.inflater_cap` is reported once per direction and compressed messages
//! are counted but not inflated (no UTF-8 verdict); with context takeover that direction is
//! never inflated later (the window would be missing). Without a budget there is no global cap.

pub mod close;
pub mod detect;
pub mod dissect;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;

#[cfg(test)]
pub(crate) mod test_sink;
#[cfg(test)]
mod tests;

pub use handshake::{check_handshake, expected_accept};
pub use message::InflaterBudget;

use crate::budget::{Held, vec_bytes};
use crate::config::Limits;
use crate::model::{Code, Handshake, OpCode, Record, WsFrame, WsMessage};
use crate::proto::digest::Hasher;
use crate::proto::dissect::Cx;
use crate::proto::sub::DecodeAs;
use crate::proto::sub::dissect::{Opening, SubHook};
use crate::tcp::Dir;
use crate::time::Timestamp;
use close::ClosePayload;
use frame::{FrameHeader, HeaderError, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, Plausible};
use message::{DEFLATE_TAIL, Inflated, Inflater, Message, Utf8Stream};
use std::collections::VecDeque;

/// Bytes scanned for a frame header after a gap before a direction is given up.
pub const RESYNC_SCAN_LIMIT: u64 = 1 << 20;
/// Bytes of a message kept for the sub-protocol decoder while a connection's first messages
/// are looked at (content detection reads no further). Small enough that a head grown to it
/// stays within `RETAIN_HEAD` and is reused, not reallocated per message.
pub const SNIFF_HEAD: usize = 2 << 10;
/// Upper bound of the display heads, whatever the limits say.
pub const MAX_HEAD: usize = 64 << 10;
/// Pings remembered per direction while their pong is awaited.
pub const MAX_PENDING_PINGS: usize = 16;
/// Round-trip times kept per connection.
pub const MAX_RTTS: usize = 1024;
/// Head buffers bigger than this are released after use instead of kept for the next frame.
const RETAIN_HEAD: usize = 4 << 10;
/// The most room a head buffer is given at once when first written ([`first_room`]).
const FIRST_HEAD: usize = 256;
/// Masked bytes are unmasked through a buffer of this size.
const UNMASK_CHUNK: usize = 2 << 10;
/// Pieces up to this size are unmasked through a smaller buffer.
const SMALL_UNMASK: usize = 128;

/// How plausible it is that `data`, seen from one side of a connection picked up mid-stream,
/// starts with WebSocket frames: `Some(true)` for client frames (masked), `Some(false)` for
/// server frames, `None` if it does not look like WebSocket.
///
/// Requires the first frame to start a message or be a control frame, every header to follow
/// the rules a sane peer follows (FIN on control frames, RSV2/RSV3 clear, RSV1 only on a
/// message start, minimal lengths, control payloads ≤ 125), all frames to share the MASK bit,
/// and either two consecutive complete headers or one frame that fills `data` exactly.
pub fn sniff_frames(data: &[u8]) -> Option<bool> {
    let rule = Plausible {
        masked: None,
        rsv1_ok: true,
    };
    let chain = frame::walk_chain(data, rule, 4)?;
    if chain.first_opcode == OpCode::Continuation {
        return None;
    }
    // 'A' and 'B' are also RSV1 + text/binary without FIN: text needs more evidence.
    let ascii_lead = matches!(data.first(), Some(b'A' | b'B'));
    let enough = chain.headers >= 2 || (chain.ends_at_end && !ascii_lead);
    enough.then_some(chain.masked)
}

/// What was negotiated for one direction.
#[derive(Clone, Copy, Debug)]
struct DirConfig {
    dir: Dir,
    /// permessage-deflate was agreed.
    deflate: bool,
    /// The sender of this direction resets its compressor per message.
    no_context_takeover: bool,
    /// An extension other than permessage-deflate was agreed: RSV bits are not judged.
    other_extension: bool,
    /// No handshake seen: negotiation unknown.
    midstream: bool,
    /// Hash every message (`--digest`).
    digest: bool,
}

impl DirConfig {
    /// RSV1 on a message's first frame may mean "compressed".
    fn deflate_possible(&self) -> bool {
        self.deflate || self.midstream
    }
    /// Client frames must be masked, server frames must not.
    fn expects_mask(&self) -> bool {
        self.dir == Dir::C2S
    }
    /// With context takeover the window spans messages: losing any compressed byte ruins
    /// every later message of the direction. Mid-stream it is never known, so never assumed.
    fn window_spans_messages(&self) -> bool {
        self.deflate && !self.no_context_takeover && !self.midstream
    }
}

/// What the current frame is, for message assembly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Part of the message in progress.
    Data,
    /// A continuation of a message whose start was not seen (mid-stream, after a resync).
    UnknownMessage,
    /// A continuation with no message in progress (reported).
    Orphan,
    Control,
    /// Reserved opcode (reported): payload skipped.
    Reserved,
}

/// The frame whose payload is being read.
#[derive(Clone, Copy, Debug)]
struct CurFrame {
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    fin: bool,
    rsv1: bool,
    rsv2: bool,
    rsv3: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload_len: u64,
    remaining: u64,
    first_frame: u64,
    role: Role,
    /// Payload bytes were lost in a gap: the head stops growing at the hole.
    damaged: bool,
}

impl CurFrame {
    fn offset(&self) -> u64 {
        self.payload_len - self.remaining
    }
}

#[derive(Debug)]
enum MsgSlot {
    /// Between messages.
    Idle,
    /// Unknown whether a message is in progress (mid-stream start, after a resync).
    Unknown,
    Active(Message),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Expecting a header (part of it may be stashed).
    Header,
    /// Inside the current frame's payload.
    Payload,
    /// Framing lost: scanning for a plausible header.
    Resync {
        /// Bytes scanned and discarded since the framing was lost.
        scanned: u64,
        /// Bytes lost in gaps since the framing was lost.
        lost: u64,
        /// The next chunk is the first after a gap.
        after_gap: bool,
    },
    /// This direction is no longer decoded.
    Stopped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InflateState {
    /// Inflate compressed messages.
    On,
    /// No longer inflated: the window was lost (error, cap, gap, missing slot).
    Off,
}

#[derive(Clone, Copy, Debug)]
struct PendingPing {
    payload: [u8; MAX_CONTROL_PAYLOAD as usize],
    len: usize,
    ts: Timestamp,
}

/// State shared by both directions.
struct Shared {
    head_cap: usize,
    control_keep: usize,
    max_inflated: u64,
    budget: Option<InflaterBudget>,
    /// Pings sent by each direction, awaiting a pong from the other.
    pings: [VecDeque<PendingPing>; 2],
    rtts: Vec<f64>,
    /// Packet number of the latest packet, for frames whose first byte came without one.
    last_frame: u64,
    /// The sub-protocol decoder of the messages, while one is chosen or being looked for.
    sub: Option<Box<SubHook>>,
    /// Bytes of a data message kept for the sub-protocol decoder (0 without one): a few while
    /// its first messages are looked at, `sub_full` once a protocol is chosen.
    sub_cap: usize,
    sub_full: usize,
}

impl Shared {
    /// Bytes of a data message kept: for display, and for the sub-protocol decoder.
    fn msg_cap(&self) -> usize {
        self.head_cap.max(self.sub_cap)
    }
}

/// One direction's decoder.
struct Side {
    cfg: DirConfig,
    phase: Phase,
    stash: [u8; MAX_HEADER_LEN],
    stash_len: usize,
    stash_first_frame: u64,
    frame: CurFrame,
    frame_head: Vec<u8>,
    msg: MsgSlot,
    /// A head buffer kept for the next message, so that heads are not reallocated per message.
    spare_head: Vec<u8>,
    /// Likewise the hasher (`--digest`).
    spare_digest: Hasher,
    close_sent: bool,
    /// MASK bit of the last frame: what to look for when resynchronising.
    last_masked: Option<bool>,
    /// Boxed: most connections never inflate, and an inflater's state is 200 bytes inline.
    inflater: Option<Box<Inflater>>,
    inflate: InflateState,
    /// Mid-stream: the next compressed message starts with an empty window.
    inflate_fresh: bool,
    inflater_cap_reported: bool,
}

/// Both directions of one WebSocket connection.
pub struct WsConn {
    sides: [Side; 2],
    shared: Shared,
}

impl WsConn {
    /// After a handshake (`Some`), or for a connection recognised mid-stream (`None`).
    /// `preview`: payload bytes retained per frame and per message for display (the heads),
    /// clamped to `limits.max_message_buffer` and to [`MAX_HEAD`].
    pub fn new(handshake: Option<&Handshake>, limits: &Limits, preview: usize) -> Self {
        let deflate = handshake.and_then(|h| h.deflate);
        let other_extension = handshake.is_some_and(|h| {
            h.extensions.iter().any(|e| {
                let name = e.split(';').next().unwrap_or_default().trim();
                !name.eq_ignore_ascii_case("permessage-deflate")
            })
        });
        let cfg = |dir: Dir| DirConfig {
            dir,
            deflate: deflate.is_some(),
            no_context_takeover: deflate.is_some_and(|d| match dir {
                Dir::C2S => d.client_no_context_takeover,
                Dir::S2C => d.server_no_context_takeover,
            }),
            other_extension,
            midstream: handshake.is_none(),
            digest: false,
        };
        let head_cap = preview.min(limits.max_message_buffer).min(MAX_HEAD);
        WsConn {
            sides: [Side::new(cfg(Dir::C2S)), Side::new(cfg(Dir::S2C))],
            shared: Shared {
                head_cap,
                control_keep: head_cap.max(MAX_CONTROL_PAYLOAD as usize),
                max_inflated: limits.max_inflated_message as u64,
                budget: None,
                pings: [VecDeque::new(), VecDeque::new()],
                rtts: Vec::new(),
                last_frame: 0,
                sub: None,
                sub_cap: 0,
                sub_full: 0,
            },
        }
    }

    /// Decode the messages' sub-protocol (`proto::sub`): chosen now by what the handshake
    /// negotiated (`opening`; `None` without one) and the `--decode-as` rules, else by the
    /// first messages' content. Messages are then kept up to `limits.max_message_buffer`
    /// bytes for the decoder.
    pub fn with_sub(
        mut self,
        cx: &mut Cx<'_>,
        rules: &DecodeAs,
        opening: Option<Opening<'_>>,
        limits: &Limits,
    ) -> Self {
        self.shared.sub = SubHook::open(cx, rules, opening);
        self.shared.sub_full = limits.max_message_buffer.min(MAX_HEAD);
        self.shared.sub_cap = match &self.shared.sub {
            Some(sub) if sub.is_pending() => SNIFF_HEAD.min(self.shared.sub_full),
            Some(_) => self.shared.sub_full,
            None => 0,
        };
        self
    }

    /// Compute the SHA-256 of every data message (`--digest`).
    pub fn with_digest(mut self, on: bool) -> Self {
        for side in &mut self.sides {
            side.cfg.digest = on;
        }
        self
    }

    /// Enforce a global cap on live inflaters (see the module doc).
    pub fn with_inflater_budget(mut self, budget: InflaterBudget) -> Self {
        self.shared.budget = Some(budget);
        self
    }

    /// Feeds in-order bytes of one direction; emits `WsFrame`, `WsMessage` and `Anomaly`.
    pub fn feed(&mut self, dir: Dir, data: &[u8], cx: &mut Cx<'_>) {
        if let Some(p) = cx.pkt {
            self.shared.last_frame = p.frame;
        }
        let mut io = Io {
            shared: &mut self.shared,
            cx,
        };
        self.sides[dir.index()].feed(data, &mut io);
    }

    /// `len` bytes of `dir` are missing: resynchronise or stop decoding that direction.
    pub fn gap(&mut self, dir: Dir, len: u64, cx: &mut Cx<'_>) {
        if let Some(sub) = self.shared.sub.as_mut() {
            sub.gap(cx, dir);
        }
        let mut io = Io {
            shared: &mut self.shared,
            cx,
        };
        self.sides[dir.index()].gap(len, &mut io);
    }

    /// The bytes of `dir` that follow do not start at a frame boundary (the flow was switched to
    /// WebSocket after its handshake was lost): scan for a plausible frame header first, as
    /// after a gap.
    pub fn lost_sync(&mut self, dir: Dir) {
        let side = &mut self.sides[dir.index()];
        if matches!(side.phase, Phase::Header) && side.stash_len == 0 {
            side.phase = Phase::Resync {
                scanned: 0,
                lost: 0,
                after_gap: true,
            };
        }
    }

    /// The flow is over: report a frame or message left incomplete (`ws.truncated`) and give
    /// inflater slots back.
    pub fn finish(&mut self, cx: &mut Cx<'_>) {
        for side in &mut self.sides {
            side.finish(cx);
        }
        if let Some(sub) = self.shared.sub.as_mut() {
            sub.finish(cx);
        }
    }

    /// Ping→pong round-trip times measured so far, seconds (at most [`MAX_RTTS`]).
    pub fn ping_rtts(&self) -> &[f64] {
        &self.shared.rtts
    }

    /// The round-trip times, moved out (the connection has ended).
    pub fn take_ping_rtts(&mut self) -> Vec<f64> {
        std::mem::take(&mut self.shared.rtts)
    }

    /// What the connection holds beyond its own struct, for the memory budget. `buffers` is
    /// what [`WsConn::give_way`] can give up: display heads, inflaters, pending pings and
    /// round-trip times.
    pub fn held(&self) -> Held {
        let sh = &self.shared;
        let mut held = Held::buffers(
            vec_bytes::<PendingPing>(sh.pings[0].capacity())
                + vec_bytes::<PendingPing>(sh.pings[1].capacity())
                + vec_bytes::<f64>(sh.rtts.capacity())
                + sh.sub.as_ref().map_or(0, |s| s.held()),
        );
        for side in &self.sides {
            held += side.held();
        }
        held
    }

    /// The memory budget ran short and this connection is among the largest holders: it gives
    /// up its inflaters (`ws.budget_inflater`; with context takeover that direction is no
    /// longer inflated), its display bytes (`ws.budget_display`; none are kept for the rest of
    /// the connection), and its pending pings and round-trip times (`ws.budget_pings`).
    pub fn give_way(&mut self, cx: &mut Cx<'_>) {
        let mut io = Io {
            shared: &mut self.shared,
            cx,
        };
        let mut shown = 0;
        for side in &mut self.sides {
            side.release_inflater(&mut io);
            shown += side.display_len();
        }
        if shown > 0 {
            io.shared.head_cap = 0;
            for side in &mut self.sides {
                side.drop_display();
            }
            io.cx.anomaly(
                Code::WsBudgetDisplay,
                None,
                format!(
                    "{shown} bytes kept for display dropped (memory budget): this connection's \
                     frames and messages are shown without payload from here on"
                ),
            );
        } else {
            for side in &mut self.sides {
                side.spare_head = Vec::new();
            }
        }
        if let Some(mut sub) = io.shared.sub.take() {
            sub.give_way(io.cx);
            io.shared.sub_cap = 0;
        }
        let sh = &mut *io.shared;
        let pings = sh.pings[0].len() + sh.pings[1].len();
        let rtts = sh.rtts.len();
        if pings + rtts > 0 {
            io.cx.anomaly(
                Code::WsBudgetPings,
                None,
                format!(
                    "{pings} pings awaiting their pong and {rtts} round-trip times forgotten \
                     (memory budget): pongs that answer them are not timed"
                ),
            );
        }
        sh.pings = [VecDeque::new(), VecDeque::new()];
        sh.rtts = Vec::new();
    }
}

/// What every step needs besides the side's own state.
struct Io<'s, 'c, 'f> {
    shared: &'s mut Shared,
    cx: &'c mut Cx<'f>,
}

impl Io<'_, '_, '_> {
    fn report(&mut self, dir: Dir, code: Code, detail: String) {
        self.cx.anomaly(code, Some(dir), detail);
    }
    fn now(&self) -> Timestamp {
        self.cx.now()
    }
    fn frame_no(&self) -> u64 {
        self.cx.pkt.map_or(self.shared.last_frame, |p| p.frame)
    }
}

/// Sends `head` back to a reusable state: cleared, and released if it grew large.
fn recycle(head: &mut Vec<u8>) {
    head.clear();
    if head.capacity() > RETAIN_HEAD {
        *head = Vec::new();
    }
}

/// Room a display head gets when it is first written: its cap, or [`FIRST_HEAD`] of it, at
/// once (a connection's heads grew in three or four steps, each a reallocation, before).
fn first_room(head: &mut Vec<u8>, cap: usize) {
    if head.capacity() == 0 {
        head.reserve_exact(cap.min(FIRST_HEAD));
    }
}

impl Side {
    /// What this direction holds, for the memory budget: the digest state (fixed), the
    /// display heads and the inflater (buffers).
    fn held(&self) -> Held {
        let head = match &self.msg {
            MsgSlot::Active(m) => vec_bytes::<u8>(m.head.capacity()) + m.digest.held(),
            MsgSlot::Idle | MsgSlot::Unknown => 0,
        };
        Held {
            fixed: self.spare_digest.held(),
            buffers: head
                + vec_bytes::<u8>(self.frame_head.capacity())
                + vec_bytes::<u8>(self.spare_head.capacity())
                + self.inflater.as_ref().map_or(0, |i| i.held()),
        }
    }

    /// Display bytes held now (the heads of the frame and message in progress).
    fn display_len(&self) -> usize {
        let frame = if self.frame.role == Role::Control {
            0
        } else {
            self.frame_head.len()
        };
        match &self.msg {
            MsgSlot::Active(m) => frame + m.head.len(),
            MsgSlot::Idle | MsgSlot::Unknown => frame,
        }
    }

    /// Drops the display heads. A control frame's head is kept: its payload (at most 125
    /// bytes) is what the close code and ping matching read.
    fn drop_display(&mut self) {
        if self.frame.role != Role::Control {
            self.frame_head = Vec::new();
        }
        if let MsgSlot::Active(m) = &mut self.msg {
            m.head = Vec::new();
            m.head_frozen = true;
        }
        self.spare_head = Vec::new();
    }

    /// Gives the inflater up for the memory budget (not to the shared pool: the memory is
    /// what is wanted back).
    fn release_inflater(&mut self, io: &mut Io<'_, '_, '_>) {
        let Some(inflater) = self.inflater.take() else {
            return;
        };
        inflater.discard();
        let dir = self.dir();
        let mut what = String::new();
        if let MsgSlot::Active(m) = &mut self.msg
            && m.compressed
            && m.inflating
        {
            m.inflating = false;
            m.no_verdict = true;
            m.digest.spoil();
            what.push_str("the message in progress is not inflated; ");
        }
        if self.cfg.window_spans_messages() {
            self.inflate = InflateState::Off;
            what.push_str("context takeover: ");
            what.push_str(dir.as_str());
            what.push_str(" is no longer inflated");
        } else {
            self.inflate_fresh = true;
            what.push_str("the next compressed message gets a new one");
        }
        io.report(
            dir,
            Code::WsBudgetInflater,
            format!("permessage-deflate inflater released (memory budget): {what}"),
        );
    }

    fn new(cfg: DirConfig) -> Self {
        Side {
            cfg,
            phase: Phase::Header,
            stash: [0; MAX_HEADER_LEN],
            stash_len: 0,
            stash_first_frame: 0,
            frame: CurFrame {
                header: [0; MAX_HEADER_LEN],
                header_len: 0,
                fin: false,
                rsv1: false,
                rsv2: false,
                rsv3: false,
                opcode: OpCode::Continuation,
                mask: None,
                payload_len: 0,
                remaining: 0,
                first_frame: 0,
                role: Role::Reserved,
                damaged: false,
            },
            frame_head: Vec::new(),
            msg: if cfg.midstream {
                MsgSlot::Unknown
            } else {
                MsgSlot::Idle
            },
            spare_head: Vec::new(),
            spare_digest: Hasher::Off,
            close_sent: false,
            last_masked: None,
            inflater: None,
            inflate: InflateState::On,
            inflate_fresh: true,
            inflater_cap_reported: false,
        }
    }

    fn dir(&self) -> Dir {
        self.cfg.dir
    }

    fn feed(&mut self, mut data: &[u8], io: &mut Io<'_, '_, '_>) {
        while !data.is_empty() {
            match self.phase {
                Phase::Stopped => return,
                Phase::Resync { .. } => match self.resync_scan(data, io) {
                    Some(at) => data = data.get(at..).unwrap_or_default(),
                    None => return,
                },
                Phase::Header => {
                    let used = self.read_header(data, io);
                    data = data.get(used..).unwrap_or_default();
                }
                Phase::Payload => {
                    let n = usize::try_from(self.frame.remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    let (payload, rest) = data.split_at(n);
                    self.payload(payload, io);
                    data = rest;
                    if self.frame.remaining == 0 {
                        self.end_frame(io);
                    }
                }
            }
        }
    }

    /// Consumes header bytes from `data`; returns how many.
    fn read_header(&mut self, data: &[u8], io: &mut Io<'_, '_, '_>) -> usize {
        let held = self.stash_len;
        if held == 0 {
            match FrameHeader::parse(data) {
                Ok(Some(h)) => {
                    let first = io.frame_no();
                    self.begin_frame(&h, first, io);
                    h.len()
                }
                Ok(None) => {
                    // Shorter than a header: keep it (at most 13 bytes).
                    let n = data.len().min(MAX_HEADER_LEN);
                    self.stash[..n].copy_from_slice(&data[..n]);
                    self.stash_len = n;
                    self.stash_first_frame = io.frame_no();
                    data.len()
                }
                Err(e) => {
                    self.length_too_large(e, io);
                    data.len()
                }
            }
        } else {
            let take = (MAX_HEADER_LEN - held).min(data.len());
            let mut buf = self.stash;
            buf[held..held + take].copy_from_slice(&data[..take]);
            match FrameHeader::parse(&buf[..held + take]) {
                Ok(Some(h)) => {
                    self.stash_len = 0;
                    let first = self.stash_first_frame;
                    self.begin_frame(&h, first, io);
                    h.len().saturating_sub(held)
                }
                Ok(None) => {
                    self.stash = buf;
                    self.stash_len = held + take;
                    take
                }
                Err(e) => {
                    self.stash_len = 0;
                    self.length_too_large(e, io);
                    data.len()
                }
            }
        }
    }

    fn length_too_large(&mut self, e: HeaderError, io: &mut Io<'_, '_, '_>) {
        let HeaderError::LengthTooLarge(len) = e;
        self.phase = Phase::Stopped;
        self.drop_inflater();
        io.report(
            self.dir(),
            Code::WsLengthTooLarge,
            format!(
                "64-bit payload length {len:#018x} has its most significant bit set: \
                 framing lost, {} no longer decoded",
                self.dir().as_str()
            ),
        );
    }

    /// Checks a new header against every rule and sets up the frame and message state.
    fn begin_frame(&mut self, h: &FrameHeader<'_>, first_frame: u64, io: &mut Io<'_, '_, '_>) {
        let dir = self.dir();
        let opcode = h.opcode();
        let name = opcode.name();
        let len = h.payload_len();

        if self.close_sent {
            io.report(
                dir,
                Code::WsDataAfterClose,
                format!("{name} frame after this side's close frame"),
            );
        }
        self.last_masked = Some(h.masked());
        if h.masked() != self.cfg.expects_mask() {
            let (code, what) = if self.cfg.expects_mask() {
                (Code::WsUnmaskedClientFrame, "client frame without mask")
            } else {
                (Code::WsMaskedServerFrame, "server frame with mask")
            };
            io.report(dir, code, format!("{name} {what}"));
        }
        if let OpCode::Reserved(n) = opcode {
            io.report(
                dir,
                Code::WsReservedOpcode,
                format!("opcode {n:#x} is reserved; {len} payload bytes skipped"),
            );
        }
        let starts_message = matches!(opcode, OpCode::Text | OpCode::Binary);
        let mut rsv = Vec::new();
        if !self.cfg.other_extension {
            if h.rsv1() {
                if !self.cfg.deflate_possible() {
                    rsv.push(format!(
                        "RSV1 on a {name} frame without permessage-deflate negotiated"
                    ));
                } else if !starts_message {
                    rsv.push(format!(
                        "RSV1 on a {name} frame (permessage-deflate allows it only on the \
                         first frame of a message)"
                    ));
                }
            }
            if h.rsv2() {
                rsv.push(format!("RSV2 on a {name} frame"));
            }
            if h.rsv3() {
                rsv.push(format!("RSV3 on a {name} frame"));
            }
        }
        if !rsv.is_empty() {
            io.report(dir, Code::WsRsvWithoutExtension, rsv.join("; "));
        }
        if opcode.is_control() && !matches!(opcode, OpCode::Reserved(_)) {
            if len > MAX_CONTROL_PAYLOAD {
                io.report(
                    dir,
                    Code::WsControlTooLong,
                    format!("{name} frame with {len} payload bytes (at most 125 allowed)"),
                );
            }
            if !h.fin() {
                io.report(
                    dir,
                    Code::WsControlFragmented,
                    format!("{name} frame with FIN = 0"),
                );
            }
        }
        if !h.is_minimal_length() {
            io.report(
                dir,
                Code::WsNonMinimalLength,
                format!(
                    "payload length {len} encoded in {} bytes",
                    h.len() - 2 - if h.masked() { 4 } else { 0 }
                ),
            );
        }

        let role = match opcode {
            OpCode::Text | OpCode::Binary => {
                self.start_message(h, io);
                Role::Data
            }
            OpCode::Continuation => match &mut self.msg {
                MsgSlot::Active(m) => {
                    m.frames = m.frames.saturating_add(1);
                    Role::Data
                }
                MsgSlot::Unknown => Role::UnknownMessage,
                MsgSlot::Idle => {
                    io.report(
                        dir,
                        Code::WsUnexpectedContinuation,
                        format!("continuation frame ({len} bytes) with no message in progress"),
                    );
                    Role::Orphan
                }
            },
            OpCode::Close | OpCode::Ping | OpCode::Pong => Role::Control,
            OpCode::Reserved(_) => Role::Reserved,
        };
        if opcode == OpCode::Close {
            self.close_sent = true;
        }

        let mut header = [0u8; MAX_HEADER_LEN];
        let raw = h.as_bytes();
        let n = raw.len().min(MAX_HEADER_LEN);
        header[..n].copy_from_slice(&raw[..n]);
        self.frame = CurFrame {
            header,
            header_len: n,
            fin: h.fin(),
            rsv1: h.rsv1(),
            rsv2: h.rsv2(),
            rsv3: h.rsv3(),
            opcode,
            mask: h.mask(),
            payload_len: len,
            remaining: len,
            first_frame,
            role,
            damaged: false,
        };
        self.frame_head.clear();
        let cap = self.head_cap_for(io.shared);
        first_room(&mut self.frame_head, cap);
        self.phase = Phase::Payload;
        if len == 0 {
            self.end_frame(io);
        }
    }

    /// A text or binary frame: a new message (the one in progress, if any, is abandoned).
    fn start_message(&mut self, h: &FrameHeader<'_>, io: &mut Io<'_, '_, '_>) {
        let dir = self.dir();
        let old = std::mem::replace(&mut self.msg, MsgSlot::Idle);
        if let MsgSlot::Active(old) = old {
            io.report(
                dir,
                Code::WsInterleavedData,
                format!(
                    "{} frame while a fragmented {} message ({} frames, {} bytes) was in \
                     progress; that message is abandoned",
                    h.opcode().name(),
                    old.opcode.name(),
                    old.frames,
                    old.wire_len
                ),
            );
            self.spare_head = old.head;
            self.spare_digest = old.digest;
        }
        let mut head = std::mem::take(&mut self.spare_head);
        recycle(&mut head);
        first_room(&mut head, io.shared.msg_cap());
        let digest = match std::mem::take(&mut self.spare_digest) {
            Hasher::Off if self.cfg.digest => Hasher::new(true),
            kept => kept,
        };
        let compressed = h.rsv1() && self.cfg.deflate_possible();
        let mut m = Message::with_digest(h.opcode(), compressed, head, digest);
        m.frames = 1;
        // RSV1 that permessage-deflate does not explain: an unknown transform.
        if h.rsv1() && !compressed {
            m.no_verdict = true;
        }
        if compressed && !self.prepare_inflater(io) {
            m.inflating = false;
            m.no_verdict = true;
            m.digest.spoil();
        }
        self.msg = MsgSlot::Active(m);
    }

    /// Makes the inflater ready for a new compressed message; false if it cannot inflate it.
    fn prepare_inflater(&mut self, io: &mut Io<'_, '_, '_>) -> bool {
        if self.inflate == InflateState::Off {
            return false;
        }
        let dir = self.dir();
        if self.inflater.is_none() {
            let permit = match &io.shared.budget {
                None => None,
                Some(budget) => match budget.try_acquire() {
                    Some(p) => Some(p),
                    None => {
                        if self.cfg.window_spans_messages() {
                            self.inflate = InflateState::Off;
                        }
                        if !self.inflater_cap_reported {
                            self.inflater_cap_reported = true;
                            io.report(
                                dir,
                                Code::WsInflaterCap,
                                format!(
                                    "no inflater slot free (max_inflaters reached): {} \
                                     compressed messages are counted, not inflated",
                                    dir.as_str()
                                ),
                            );
                        }
                        return false;
                    }
                },
            };
            self.inflater = Some(Box::new(Inflater::new(permit)));
            self.inflate_fresh = true;
        }
        let fresh = self.inflate_fresh || self.cfg.no_context_takeover;
        self.inflate_fresh = false;
        let Some(inflater) = self.inflater.as_mut() else {
            return false;
        };
        match inflater.begin_message(fresh) {
            Ok(()) => true,
            Err(e) => {
                self.inflate_failed(e, io);
                false
            }
        }
    }

    fn drop_inflater(&mut self) {
        self.inflater = None;
        self.inflate = InflateState::Off;
    }

    /// The data did not inflate: report (unless mid-stream, where missing history is the
    /// likelier cause) and decide whether later messages can still be inflated.
    fn inflate_failed(&mut self, why: String, io: &mut Io<'_, '_, '_>) {
        let dir = self.dir();
        if self.cfg.midstream {
            self.inflate_fresh = true;
            return;
        }
        let consequence = if self.cfg.window_spans_messages() {
            self.drop_inflater();
            format!("context takeover: {} no longer inflated", dir.as_str())
        } else {
            self.inflate_fresh = true;
            "the next message starts a fresh window".to_string()
        };
        io.report(
            dir,
            Code::WsInflateError,
            format!("permessage-deflate data does not inflate ({why}); {consequence}"),
        );
    }

    /// Compressed bytes of this direction were lost: returns what that means for later
    /// messages, if anything worth saying.
    fn inflate_context_lost(&mut self) -> Option<String> {
        if self.cfg.midstream {
            self.inflate_fresh = true;
            None
        } else if self.cfg.window_spans_messages() && self.inflate == InflateState::On {
            self.drop_inflater();
            Some(format!(
                "permessage-deflate window lost with context takeover: {} no longer inflated",
                self.dir().as_str()
            ))
        } else {
            self.inflate_fresh = true;
            None
        }
    }

    fn head_cap_for(&self, shared: &Shared) -> usize {
        match self.frame.role {
            Role::Control => shared.control_keep,
            _ => shared.head_cap,
        }
    }

    /// Payload bytes of the current frame (`chunk.len() <= remaining`).
    fn payload(&mut self, chunk: &[u8], io: &mut Io<'_, '_, '_>) {
        let phase = (self.frame.offset() & 3) as usize;
        self.frame.remaining = self.frame.remaining.saturating_sub(chunk.len() as u64);
        if self.frame.role == Role::Data {
            self.data_payload(chunk, phase, io);
            return;
        }
        if !self.frame.damaged {
            let room = self
                .head_cap_for(io.shared)
                .saturating_sub(self.frame_head.len());
            let part = chunk.get(..room.min(chunk.len())).unwrap_or_default();
            mask::extend_unmasked(&mut self.frame_head, part, self.frame.mask, phase);
        }
    }

    /// Payload of a frame that belongs to the message in progress.
    fn data_payload(&mut self, chunk: &[u8], phase: usize, io: &mut Io<'_, '_, '_>) {
        let dir = self.dir();
        let head_cap = io.shared.head_cap;
        let msg_cap = io.shared.msg_cap();
        let max_inflated = io.shared.max_inflated;
        let Side {
            frame,
            frame_head,
            msg,
            inflater,
            ..
        } = self;
        let MsgSlot::Active(m) = msg else { return };
        m.wire_len = m.wire_len.saturating_add(chunk.len() as u64);
        let inflating = m.compressed && m.inflating && inflater.is_some();
        let plain = !m.compressed;
        let frame_room = if frame.damaged {
            0
        } else {
            head_cap.saturating_sub(frame_head.len())
        };
        let msg_room = if plain && !m.head_frozen {
            msg_cap.saturating_sub(m.head.len())
        } else {
            0
        };
        let need_all = inflating || (plain && m.needs_all_bytes());
        let upto = if need_all {
            chunk.len()
        } else {
            chunk.len().min(frame_room.max(msg_room))
        };
        let (look, rest) = chunk.split_at(upto);

        let mut outcome = PieceOutcome::default();
        let frame_damaged = frame.damaged;
        // Takes one piece of unmasked payload; false when nothing more is needed from the chunk.
        let mut take = |piece: &[u8]| -> bool {
            if !frame_damaged {
                let room = head_cap.saturating_sub(frame_head.len());
                frame_head
                    .extend_from_slice(piece.get(..room.min(piece.len())).unwrap_or_default());
            }
            if plain {
                if m.take_plain(piece, msg_cap) {
                    outcome.invalid_utf8 = m.utf8.invalid_at();
                }
            } else if inflating
                && m.inflating
                && outcome.stop.is_none()
                && let Some(inf) = inflater.as_mut()
            {
                inflate_piece(inf, piece, m, msg_cap, max_inflated, &mut outcome);
            }
            // After inflation stopped, go on only while the frame's head wants bytes.
            outcome.stop.is_none() || (!frame_damaged && frame_head.len() < head_cap)
        };
        match frame.mask {
            None => {
                take(look);
            }
            Some(key) => {
                // On the stack (a buffer per connection cost 2 KiB for every client side), and
                // small for the common small piece, as the buffer is zeroed first.
                let mut small = [0u8; SMALL_UNMASK];
                let mut large;
                let scratch: &mut [u8] = if look.len() <= SMALL_UNMASK {
                    &mut small
                } else {
                    large = [0u8; UNMASK_CHUNK];
                    &mut large
                };
                for (i, raw) in look.chunks(UNMASK_CHUNK).enumerate() {
                    let dst = scratch.get_mut(..raw.len()).unwrap_or_default();
                    mask::unmask_into(raw, dst, key, phase + i * UNMASK_CHUNK);
                    if !take(dst) {
                        break;
                    }
                }
            }
        }
        if plain {
            m.len = m.len.saturating_add(rest.len() as u64);
        }
        self.settle(outcome, dir, io);
    }

    /// Reports what inflating / validating a piece revealed and updates the direction state.
    fn settle(&mut self, outcome: PieceOutcome, dir: Dir, io: &mut Io<'_, '_, '_>) {
        if let Some(at) = outcome.invalid_utf8 {
            io.report(
                dir,
                Code::WsInvalidUtf8,
                format!("text message is not UTF-8 at byte {at}"),
            );
        }
        match outcome.stop {
            None => {}
            Some(InflateStop::TooLarge(limit)) => {
                if let MsgSlot::Active(m) = &mut self.msg {
                    m.inflating = false;
                    m.no_verdict = true;
                    m.digest.spoil();
                }
                let consequence = if self.cfg.window_spans_messages() {
                    self.drop_inflater();
                    format!("context takeover: {} no longer inflated", dir.as_str())
                } else {
                    self.inflate_fresh = true;
                    "the rest of the message is skipped".to_string()
                };
                io.report(
                    dir,
                    Code::WsMessageTooLarge,
                    format!("message inflates beyond {limit} bytes; {consequence}"),
                );
            }
            Some(InflateStop::Error(why)) => {
                if let MsgSlot::Active(m) = &mut self.msg {
                    m.inflating = false;
                    m.no_verdict = true;
                    m.digest.spoil();
                }
                self.inflate_failed(why, io);
            }
        }
    }

    /// The current frame's last byte arrived (or was lost): emit it, then its consequences.
    fn end_frame(&mut self, io: &mut Io<'_, '_, '_>) {
        let dir = self.dir();
        let f = self.frame;
        self.phase = Phase::Header;

        let mut close_code = None;
        let mut close_reason = None;
        if f.opcode == OpCode::Close {
            let complete_head = !f.damaged && self.frame_head.len() as u64 == f.payload_len;
            match close::parse_close(&self.frame_head, f.payload_len) {
                Some(ClosePayload::Empty) | None => {}
                Some(ClosePayload::OneByte) => io.report(
                    dir,
                    Code::WsInvalidCloseCode,
                    "close frame with a 1-byte payload (a status code needs 2)".to_string(),
                ),
                Some(ClosePayload::Code(code)) => {
                    close_code = Some(code);
                    close_reason = self.frame_head.get(2..);
                    if let Some(problem) = close::close_code_problem(code) {
                        io.report(dir, Code::WsInvalidCloseCode, problem);
                    }
                    if complete_head {
                        let mut v = Utf8Stream::default();
                        let reason = close_reason.unwrap_or_default();
                        if !(v.feed(reason) && v.finish()) {
                            io.report(
                                dir,
                                Code::WsInvalidUtf8,
                                format!(
                                    "close reason is not UTF-8 at byte {}",
                                    v.invalid_at().unwrap_or(0)
                                ),
                            );
                        }
                    }
                }
            }
        }

        let event = WsFrame {
            dir,
            ts: io.now(),
            first_frame: f.first_frame,
            fin: f.fin,
            rsv1: f.rsv1,
            rsv2: f.rsv2,
            rsv3: f.rsv3,
            opcode: f.opcode,
            mask: f.mask,
            payload_len: f.payload_len,
            header: &f.header[..f.header_len.min(MAX_HEADER_LEN)],
            payload_head: &self.frame_head,
            close_code,
            close_reason,
            deflate: self.cfg.deflate,
        };
        io.cx.emit(Record::WsFrame(&event));

        match f.role {
            Role::Data if f.fin => self.end_message(io),
            Role::UnknownMessage if f.fin => self.msg = MsgSlot::Idle,
            Role::Control if !f.damaged && f.payload_len <= MAX_CONTROL_PAYLOAD => {
                self.ping_pong(f.opcode, io);
            }
            _ => {}
        }
        recycle(&mut self.frame_head);
    }

    fn end_message(&mut self, io: &mut Io<'_, '_, '_>) {
        let dir = self.dir();
        let head_cap = io.shared.msg_cap();
        let max_inflated = io.shared.max_inflated;
        let mut outcome = PieceOutcome::default();
        if let (MsgSlot::Active(m), Some(inf)) = (&mut self.msg, self.inflater.as_mut())
            && m.compressed
            && m.inflating
        {
            inflate_piece(inf, &DEFLATE_TAIL, m, head_cap, max_inflated, &mut outcome);
        }
        self.settle(outcome, dir, io);
        let MsgSlot::Active(mut m) = std::mem::replace(&mut self.msg, MsgSlot::Idle) else {
            return;
        };
        let valid_utf8 = m.finish_utf8();
        if valid_utf8 == Some(false) && !m.utf8_reported {
            io.report(
                dir,
                Code::WsInvalidUtf8,
                format!(
                    "text message ends inside a UTF-8 sequence at byte {}",
                    m.utf8.invalid_at().unwrap_or(m.len)
                ),
            );
        }
        let shown = m.head.get(..io.shared.head_cap).unwrap_or(&m.head);
        let mut event = WsMessage {
            dir,
            ts: io.now(),
            opcode: m.opcode,
            frames: m.frames,
            wire_len: m.wire_len,
            len: m.len,
            compressed: m.compressed,
            valid_utf8,
            data_head: shown,
            digest: m.digest.finish(true),
            sub: &[],
            sub_choice: None,
        };
        match io.shared.sub.as_mut() {
            None => io.cx.emit(Record::WsMessage(&event)),
            Some(sub) => {
                let binary = m.opcode == OpCode::Binary;
                let decoded = sub.message(io.cx, dir, binary, &m.head, m.len);
                event.sub = decoded.units;
                event.sub_choice = decoded.choice;
                io.cx.emit(Record::WsMessage(&event));
                if sub.is_off() {
                    io.shared.sub = None;
                    io.shared.sub_cap = 0;
                } else if !sub.is_pending() {
                    io.shared.sub_cap = if sub.decodes(io.cx) {
                        io.shared.sub_full
                    } else {
                        0
                    };
                }
            }
        }
        self.spare_head = m.head;
        self.spare_digest = m.digest;
    }

    /// Remembers pings and matches pongs to the other side's pings.
    fn ping_pong(&mut self, opcode: OpCode, io: &mut Io<'_, '_, '_>) {
        let dir = self.dir();
        let payload = self.frame_head.as_slice();
        match opcode {
            OpCode::Ping => {
                let mut p = PendingPing {
                    payload: [0; MAX_CONTROL_PAYLOAD as usize],
                    len: payload.len().min(MAX_CONTROL_PAYLOAD as usize),
                    ts: io.now(),
                };
                p.payload[..p.len].copy_from_slice(&payload[..p.len]);
                let pending = &mut io.shared.pings[dir.index()];
                if pending.len() >= MAX_PENDING_PINGS {
                    pending.pop_front();
                }
                pending.push_back(p);
            }
            OpCode::Pong => {
                let now = io.now();
                let pending = &mut io.shared.pings[dir.other().index()];
                if let Some(i) = pending
                    .iter()
                    .rposition(|p| p.payload.get(..p.len) == Some(payload))
                    && let Some(ping) = pending.remove(i)
                    && io.shared.rtts.len() < MAX_RTTS
                {
                    io.shared.rtts.push(now.secs_since(ping.ts).max(0.0));
                }
            }
            _ => {}
        }
    }

    fn gap(&mut self, len: u64, io: &mut Io<'_, '_, '_>) {
        if len == 0 {
            return;
        }
        match self.phase {
            Phase::Stopped => {}
            Phase::Resync {
                scanned,
                lost,
                after_gap: _,
            } => {
                self.phase = Phase::Resync {
                    scanned,
                    lost: lost.saturating_add(len),
                    after_gap: true,
                };
            }
            Phase::Payload if len <= self.frame.remaining => {
                let note = self.skip_payload(len);
                if let Some(note) = note {
                    io.report(
                        self.dir(),
                        Code::WsResync,
                        format!(
                            "gap of {len} bytes inside a {} frame's payload: framing kept; {note}",
                            self.frame.opcode.name()
                        ),
                    );
                }
                if self.frame.remaining == 0 {
                    self.end_frame(io);
                }
            }
            Phase::Payload => {
                let in_frame = self.frame.remaining;
                let mut note = self.skip_payload(in_frame);
                self.end_frame(io);
                if note.is_none() {
                    note = self.inflate_context_lost();
                }
                self.lose_framing(len - in_frame, note, io);
            }
            Phase::Header => {
                let note = self.inflate_context_lost();
                self.lose_framing(len, note, io);
            }
        }
    }

    /// Skips `len` lost payload bytes of the current frame; returns a note if inflation of this
    /// direction had to stop.
    fn skip_payload(&mut self, len: u64) -> Option<String> {
        self.frame.remaining = self.frame.remaining.saturating_sub(len);
        self.frame.damaged = true;
        if self.frame.role != Role::Data {
            return None;
        }
        let MsgSlot::Active(m) = &mut self.msg else {
            return None;
        };
        m.no_verdict = true;
        m.head_frozen = true;
        m.digest.spoil();
        m.wire_len = m.wire_len.saturating_add(len);
        if !m.compressed {
            m.len = m.len.saturating_add(len);
            return None;
        }
        let was_inflating = m.inflating;
        m.inflating = false;
        if was_inflating {
            self.inflate_context_lost()
        } else {
            None
        }
    }

    /// The framing is lost: drop the message in progress and scan for a header. What is lost
    /// beyond the gap's own bytes (a fragmented message whose frames were partly seen, the
    /// inflate window) is reported as `ws.resync`; the gap itself was reported as `tcp.gap`.
    fn lose_framing(&mut self, lost: u64, note: Option<String>, io: &mut Io<'_, '_, '_>) {
        let mut notes: Vec<String> = note.into_iter().collect();
        if let MsgSlot::Active(m) = std::mem::replace(&mut self.msg, MsgSlot::Unknown) {
            notes.push(format!(
                "the fragmented {} message in progress ({} frames, {} bytes seen) is dropped",
                m.opcode.name(),
                m.frames,
                m.wire_len
            ));
            self.spare_head = m.head;
            self.spare_digest = m.digest;
        }
        self.stash_len = 0;
        self.phase = Phase::Resync {
            scanned: 0,
            lost,
            after_gap: true,
        };
        if !notes.is_empty() {
            io.report(
                self.dir(),
                Code::WsResync,
                format!(
                    "gap of {lost} bytes across frame boundaries; {}",
                    notes.join("; ")
                ),
            );
        }
    }

    /// Looks for a plausible header in `data`; returns its offset, or `None` (all of `data`
    /// discarded).
    fn resync_scan(&mut self, data: &[u8], io: &mut Io<'_, '_, '_>) -> Option<usize> {
        let Phase::Resync {
            scanned,
            lost,
            after_gap,
        } = self.phase
        else {
            return Some(0);
        };
        let rule = Plausible {
            masked: Some(self.last_masked.unwrap_or(self.cfg.expects_mask())),
            rsv1_ok: self.cfg.deflate_possible() && !self.cfg.other_extension,
        };
        let dir = self.dir();
        for at in 0..data.len() {
            let Some(candidate) = data.get(at..) else {
                break;
            };
            let Some(chain) = frame::walk_chain(candidate, rule, 2) else {
                continue;
            };
            if chain.first_opcode == OpCode::Continuation {
                continue;
            }
            let aligned = at == 0 && after_gap && chain.ends_at_end;
            if chain.headers >= 2 || aligned {
                let skipped = scanned.saturating_add(at as u64);
                self.phase = Phase::Header;
                // Resuming on the very byte after the gap loses nothing the gap (`tcp.gap`)
                // has not already reported; only captured bytes thrown away are news.
                if skipped > 0 {
                    io.report(
                        dir,
                        Code::WsResync,
                        format!(
                            "framing lost after a gap of {lost} bytes; resumed at a {} frame \
                             header after skipping {skipped} bytes",
                            chain.first_opcode.name()
                        ),
                    );
                }
                return Some(at);
            }
        }
        let scanned = scanned.saturating_add(data.len() as u64);
        if scanned > RESYNC_SCAN_LIMIT {
            self.phase = Phase::Stopped;
            self.drop_inflater();
            io.report(
                dir,
                Code::WsResync,
                format!(
                    "framing lost after a gap of {lost} bytes; no plausible frame header in \
                     the next {scanned} bytes: {} no longer decoded",
                    dir.as_str()
                ),
            );
        } else {
            self.phase = Phase::Resync {
                scanned,
                lost,
                after_gap: false,
            };
        }
        None
    }

    fn finish(&mut self, cx: &mut Cx<'_>) {
        let mut parts = Vec::new();
        match self.phase {
            Phase::Payload => parts.push(format!(
                "{} of {} payload bytes of a {} frame missing",
                self.frame.remaining,
                self.frame.payload_len,
                self.frame.opcode.name()
            )),
            Phase::Header if self.stash_len > 0 => parts.push(format!(
                "{} bytes of a frame header without the rest",
                self.stash_len
            )),
            _ => {}
        }
        if let MsgSlot::Active(m) = &self.msg {
            // A one-frame message whose frame is cut is already said by the frame part.
            let said =
                self.phase == Phase::Payload && self.frame.role == Role::Data && m.frames == 1;
            if !said {
                parts.push(format!(
                    "{} message of {} frames ({} bytes) never finished",
                    m.opcode.name(),
                    m.frames,
                    m.wire_len
                ));
            }
        }
        if !parts.is_empty() {
            cx.anomaly(
                Code::WsTruncated,
                Some(self.dir()),
                format!("connection ended: {}", parts.join("; ")),
            );
        }
        self.inflater = None;
        self.phase = Phase::Stopped;
    }
}

/// Why inflation of the current message stopped.
#[derive(Debug)]
enum InflateStop {
    TooLarge(u64),
    Error(String),
}

#[derive(Debug, Default)]
struct PieceOutcome {
    /// Offset of newly found invalid UTF-8.
    invalid_utf8: Option<u64>,
    stop: Option<InflateStop>,
}

/// Inflates one piece of a compressed message into the message (head, length, UTF-8), up to
/// the per-message inflate cap.
fn inflate_piece(
    inf: &mut Inflater,
    piece: &[u8],
    m: &mut Message,
    head_cap: usize,
    max_inflated: u64,
    outcome: &mut PieceOutcome,
) {
    let mut too_large = false;
    let mut invalid = None;
    let result = inf.inflate(piece, &mut |out| {
        let room = max_inflated.saturating_sub(m.len);
        let take = usize::try_from(room).unwrap_or(usize::MAX).min(out.len());
        if m.take_plain(&out[..take], head_cap) {
            invalid = m.utf8.invalid_at();
        }
        if take < out.len() {
            too_large = true;
            return false;
        }
        true
    });
    if invalid.is_some() {
        outcome.invalid_utf8 = invalid;
    }
    match result {
        Err(e) => outcome.stop = Some(InflateStop::Error(e)),
        Ok(Inflated::StoppedByConsumer) if too_large => {
            outcome.stop = Some(InflateStop::TooLarge(max_inflated));
        }
        Ok(_) => {}
    }
}
