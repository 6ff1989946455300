//! HTTP/1.x over one TCP connection: incremental parsing of both directions with httparse,
//! keep-alive and pipelining (responses matched to requests in order), Content-Length, chunked
//! bodies, bodiless responses (HEAD, 1xx, 204, 304), close-delimited bodies, and the Upgrade
//! hand-off to WebSocket at the exact byte after each side's head.

use crate::config::Limits;
use crate::proto::{EventCtx, EventSink};
use crate::tcp::Dir;

/// What [`HttpConn::feed`] did with the bytes it was given.
#[derive(Debug, PartialEq, Eq)]
pub enum Feed {
    /// All bytes were consumed (parsed, or buffered as an incomplete tail, or held back).
    Consumed,
    /// The server's `101 Switching Protocols` ended at `data[..offset]`: the bytes from `offset`
    /// on are the server's first WebSocket bytes. Call [`HttpConn::take_upgrade`] next.
    Upgraded { offset: usize },
}

/// The heads of an accepted upgrade, owned so the WebSocket layer can check the handshake, and
/// the client bytes that followed the upgrade request (the client's first WebSocket bytes).
#[derive(Debug, Default)]
pub struct Upgrade {
    pub request_headers: Vec<(String, Vec<u8>)>,
    pub response_headers: Vec<(String, Vec<u8>)>,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub held_c2s: Vec<u8>,
}

/// Both directions of one HTTP connection.
pub struct HttpConn {}

impl HttpConn {
    pub fn new(limits: &Limits, preview: usize) -> Self {
        let _ = (limits, preview);
        HttpConn {}
    }

    /// Feeds in-order bytes of one direction; emits `HttpHead`, `Http`, `Sse` and `Anomaly`
    /// events.
    pub fn feed(
        &mut self,
        dir: Dir,
        data: &[u8],
        ctx: &EventCtx<'_>,
        sink: &mut dyn EventSink,
    ) -> Feed {
        let _ = (dir, data, ctx, sink);
        Feed::Consumed
    }

    /// `len` bytes of `dir` are missing.
    pub fn gap(&mut self, dir: Dir, len: u64, ctx: &EventCtx<'_>, sink: &mut dyn EventSink) {
        let _ = (dir, len, ctx, sink);
    }

    /// `dir` sent FIN: completes a close-delimited body.
    pub fn end(&mut self, dir: Dir, ctx: &EventCtx<'_>, sink: &mut dyn EventSink) {
        let _ = (dir, ctx, sink);
    }

    /// The flow is over: emits incomplete messages with `complete == false`.
    pub fn finish(&mut self, ctx: &EventCtx<'_>, sink: &mut dyn EventSink) {
        let _ = (ctx, sink);
    }

    /// After [`Feed::Upgraded`]: the upgrade's heads and held client bytes.
    pub fn take_upgrade(&mut self) -> Option<Upgrade> {
        None
    }
}
