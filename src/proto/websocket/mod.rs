//! WebSocket (RFC 6455): the opening handshake check, frame header parsing, unmasking, message
//! assembly with permessage-deflate (RFC 7692), and every framing rule, each violation an
//! anomaly while decoding continues as long as the framing holds.

use crate::config::Limits;
use crate::proto::http::Upgrade;
use crate::proto::{EventCtx, EventSink, Handshake};
use crate::tcp::Dir;

/// The `Sec-WebSocket-Accept` value for a key: base64(SHA-1(key + GUID)).
pub fn expected_accept(key: &str) -> String {
    let _ = key;
    String::new()
}

/// Checks an accepted upgrade; returns the handshake record and emits anomalies.
pub fn check_handshake(
    upgrade: &Upgrade,
    ctx: &EventCtx<'_>,
    sink: &mut dyn EventSink,
) -> Handshake {
    let _ = (upgrade, ctx, sink);
    Handshake::default()
}

/// How plausible it is that `data`, seen from one side of a connection picked up mid-stream,
/// starts with WebSocket frames: `Some(true)` for client frames (masked), `Some(false)` for
/// server frames, `None` if it does not look like WebSocket.
pub fn sniff_frames(data: &[u8]) -> Option<bool> {
    let _ = data;
    None
}

/// Both directions of one WebSocket connection.
pub struct WsConn {}

impl WsConn {
    /// After a handshake (`Some`), or for a connection recognised mid-stream (`None`).
    pub fn new(handshake: Option<&Handshake>, limits: &Limits, preview: usize) -> Self {
        let _ = (handshake, limits, preview);
        WsConn {}
    }

    /// Feeds in-order bytes of one direction; emits `WsFrame`, `WsMessage` and `Anomaly`.
    pub fn feed(&mut self, dir: Dir, data: &[u8], ctx: &EventCtx<'_>, sink: &mut dyn EventSink) {
        let _ = (dir, data, ctx, sink);
    }

    /// `len` bytes of `dir` are missing: resynchronise or stop decoding that direction.
    pub fn gap(&mut self, dir: Dir, len: u64, ctx: &EventCtx<'_>, sink: &mut dyn EventSink) {
        let _ = (dir, len, ctx, sink);
    }

    /// The flow is over: report a message left incomplete.
    pub fn finish(&mut self, ctx: &EventCtx<'_>, sink: &mut dyn EventSink) {
        let _ = (ctx, sink);
    }

    /// Ping→pong round-trip times measured so far, seconds.
    pub fn ping_rtts(&self) -> &[f64] {
        &[]
    }
}
