//! Protocol analysis over reassembled TCP streams: which protocol reads a connection
//! ([`conn`], over the interfaces of [`dissect`]), HTTP/1.x, the WebSocket upgrade and RFC 6455
//! framing, the flow's kind, the sub-protocols inside WebSocket messages and the TLS record
//! layer. Everything the analysis finds is a record of the model ([`crate::model`]) carried by
//! an event; printers and statistics consume events and never parse.

pub mod classify;
pub mod conn;
pub mod digest;
pub mod dissect;
pub mod http;
pub mod sub;
pub mod tls;
pub mod websocket;
