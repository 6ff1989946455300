//! The vocabulary every capture format's parser answers in: the record it found, the secrets it
//! carried, the next step, the error. The formats (`pcap`, `pcapng`) and the dispatch between
//! them (`parse`) all speak it; it depends on none of them.

use super::{Frame, LinkType, MAX_CAPLEN};
use crate::time::Timestamp;
use std::ops::Range;

/// Largest record (pcap packet record or pcapng block) a parser will ever ask to see whole.
/// Same budget as Wireshark: the largest packet plus generous room for pcapng options.
pub(crate) const MAX_RECORD: usize = MAX_CAPLEN as usize + 131_072 + 32;

/// One packet found in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// Bytes of input this record occupies (header, data, padding, trailer).
    pub consumed: usize,
    /// Where the captured bytes are, relative to the input given to `step`.
    pub data: Range<usize>,
    pub ts: Timestamp,
    pub orig_len: u32,
    pub link_type: LinkType,
    pub interface: u32,
    /// A classic pcap timestamp whose fraction field was a whole second or more (carried into
    /// the seconds, as libpcap and Wireshark do).
    pub fraction_overflow: bool,
}

impl Record {
    /// The frame this record describes: `data` are its captured bytes (its `data` range of the
    /// input it was found in), `index` its packet number in the run.
    pub(crate) fn frame<'a>(&self, index: u64, data: &'a [u8]) -> Frame<'a> {
        Frame {
            index,
            ts: self.ts,
            link_type: self.link_type,
            interface: self.interface,
            orig_len: self.orig_len,
            data,
        }
    }
}

/// Decryption secrets carried in the input (a pcapng Decryption Secrets Block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SecretsRecord {
    /// Bytes of input this block occupies.
    pub consumed: usize,
    /// The secrets type (`0x544c534b` for a TLS key log).
    pub kind: u32,
    /// Where the secrets are, relative to the input given to `step`.
    pub data: Range<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Packet(Record),
    /// Secrets for decrypting what follows; sources hand them out through
    /// [`super::Next::Secrets`].
    Secrets(SecretsRecord),
    /// A record without a packet (file header, pcapng metadata or unknown block): skip it.
    Skip(usize),
    /// The next record needs this many bytes from the start of `input`; nothing was consumed.
    NeedMore(usize),
    /// Clean end of input.
    End,
}

/// A malformed input: where (relative to the input given to `step`) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub at: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(at: usize, message: impl Into<String>) -> Self {
        ParseError {
            at,
            message: message.into(),
        }
    }
}
