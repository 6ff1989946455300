//! Packet sources: pcap and pcapng files (memory-mapped, zero-copy), compressed or streamed
//! input, and live capture. Every source yields [`Frame`]s that borrow the source's memory.
//!
//! Promise: no input makes a source panic or allocate without bound. A malformed file ends with
//! a [`SourceError`] naming the file and the byte offset where the problem was found.

use crate::time::Timestamp;
use std::fmt;

/// A link-layer type, as numbered by tcpdump's LINKTYPE_ registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    pub fn name(self) -> &'static str {
        match self {
            LinkType::NULL => "NULL",
            LinkType::ETHERNET => "Ethernet",
            LinkType::RAW => "Raw IP",
            LinkType::LOOP => "OpenBSD loopback",
            LinkType::LINUX_SLL => "Linux cooked v1",
            LinkType::IPV4 => "Raw IPv4",
            LinkType::IPV6 => "Raw IPv6",
            LinkType::LINUX_SLL2 => "Linux cooked v2",
            _ => "unknown",
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// One captured packet, borrowing the bytes of its source.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// 1-based packet number, continuous across all inputs of one run (like tshark's `frame.number`).
    pub index: u64,
    pub ts: Timestamp,
    pub link_type: LinkType,
    /// pcapng interface id (0 for pcap and live capture).
    pub interface: u32,
    /// Length of the packet on the wire; may exceed `data.len()` when the snaplen cut it.
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// A problem with the input itself (not with the traffic in it): the run stops with exit code 2.
#[derive(Debug)]
pub struct SourceError {
    /// File name or interface, as the user gave it.
    pub source: String,
    /// Byte offset in the (decompressed) input where the problem was found, if meaningful.
    pub offset: Option<u64>,
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(off) => write!(f, "{}: at byte {}: {}", self.source, off, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for SourceError {}

/// Progress through an input, for the progress bar.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
}

/// A lending iterator over frames: each frame borrows the source until the next call.
pub trait PacketSource {
    /// The next frame, `Ok(None)` at the end of the input.
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError>;
    /// How far the source has got.
    fn progress(&self) -> Progress;
    /// The name used in messages (file path, `-`, interface).
    fn name(&self) -> &str;
}

/// Opens a capture file (`-` = stdin). Packet numbers start at `first_index`.
pub fn open(path: &str, first_index: u64) -> Result<Box<dyn PacketSource>, SourceError> {
    let _ = first_index;
    Err(SourceError {
        source: path.to_string(),
        offset: None,
        message: "not implemented".into(),
    })
}
