//! Link, IP and TCP decoding: turns a [`Frame`] into a [`Segment`] that borrows its payload.
//!
//! Promise: decoding never panics and never reads past the captured bytes. Bytes the snaplen cut
//! off are counted in [`Segment::missing`] so that the TCP layer reports them as a gap.

use crate::source::{Frame, LinkType};
use crate::time::Timestamp;
use std::net::{IpAddr, SocketAddr};

/// TCP flag bits as they appear in the header's 13th/14th bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
}

/// A TCP segment, ready for the flow table. Borrows the frame's bytes.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub frame: u64,
    pub ts: Timestamp,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The captured part of the TCP payload.
    pub payload: &'a [u8],
    /// Payload bytes that were on the wire but not captured (snaplen); they follow `payload`.
    pub missing: u32,
    /// IP header bytes (IPv4 header with options, or IPv6 header with extension headers).
    pub ip_header_len: u16,
    /// TCP header bytes, options included.
    pub tcp_header_len: u16,
}

/// Why a frame carried no TCP segment for us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// A link type we do not decode; reported once per interface.
    UnknownLinkType(LinkType),
    /// Not IP (ARP, LLDP, ...).
    NotIp,
    /// IP, but not TCP (UDP, ICMP, ...).
    NotTcp,
    /// Headers cut short or inconsistent.
    Malformed,
}

/// The result of decoding one frame.
#[derive(Clone, Copy, Debug)]
pub enum Decoded<'a> {
    Tcp(Segment<'a>),
    /// A fragment of an IP datagram (first or later); the TCP header may not be in it.
    IpFragment {
        src: IpAddr,
        dst: IpAddr,
        id: u32,
    },
    Skipped(Skip),
}

/// Decodes frames. Holds the little state decoding needs: which interfaces already had their
/// unknown link type reported, and IP fragments awaiting reassembly (capped).
#[derive(Default)]
pub struct Decoder {}

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Decodes one frame. No allocation on the common path; the result borrows either the frame
    /// or (for a reassembled IP datagram) the decoder.
    pub fn decode<'s>(&'s mut self, frame: &Frame<'s>) -> Decoded<'s> {
        let _ = frame;
        Decoded::Skipped(Skip::Malformed)
    }

    /// An (interface, link type) pair met for the first time since the last call, to be
    /// reported once.
    pub fn take_new_unknown_link(&mut self) -> Option<(u32, LinkType)> {
        None
    }
}
