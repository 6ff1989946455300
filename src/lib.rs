//! sockscope — a protocol analyzer for HTTP/1.x and WebSocket over TCP.
//!
//! Data flows one way, layer by layer:
//!
//! ```text
//! source ──Frame──▶ decode ──Segment──▶ tcp ──StreamEvent──▶ proto ──Event──▶ report
//!                                                               └──▶ stats
//! ```
//!
//! Each layer knows only the layer below it through a small borrowed type, so bytes read from a
//! memory-mapped capture reach the protocol parsers without being copied. Only out-of-order TCP
//! data and the unparsed tail of a partial PDU are ever buffered, and every such buffer is capped
//! by [`config::Limits`]. What the protocol layer tells the outputs — events carrying typed
//! records — is the [`model`], which both sides import; `docs/internals.md` says how the layers
//! fit and how a protocol is added.

pub mod app;
pub mod budget;
pub mod cli;
pub mod config;
pub mod decode;
pub mod filter;
pub mod live;
pub mod model;
pub mod pipeline;
pub mod proto;
pub mod report;
pub mod source;
pub mod stats;
pub mod tcp;
pub mod time;
pub mod usage;
