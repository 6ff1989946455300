//! Protocol analysis over reassembled TCP streams: HTTP/1.x, the WebSocket upgrade and RFC 6455
//! framing, and the flow's kind. Everything the analysis finds is a record of the model
//! ([`crate::model`]) carried by an [`Event`]; printers and statistics consume events and never
//! parse.

pub mod classify;
pub mod conn;
pub mod digest;
pub mod dissect;
pub mod http;
pub mod tls;
pub mod websocket;

pub use crate::model::{
    Anomaly, Code, DeflateParams, Digest, Event, EventCtx, EventSink, FlowKind, FlowSummary,
    Handshake, Header, HttpHead, HttpMessage, OpCode, Record, Severity, SseEvent, WsFrame,
    WsMessage,
};
