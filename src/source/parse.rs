//! The format-independent core of every file source: given the unread bytes of a capture, say
//! what the next record is, without knowing whether the bytes come from a memory map or a
//! refillable buffer.
//!
//! Promise: [`Parser::step`] never panics, never reads outside `input`, and changes no state when
//! it answers [`Step::NeedMore`], so a streaming driver can refill and ask again. Ranges in the
//! answer are relative to `input`. No step ever asks for more than [`MAX_RECORD`] bytes.

use super::pcap::PcapFormat;
use super::pcapng::PcapNgFormat;
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

const PCAPNG_SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True if the bytes start like a gzip stream.
pub(crate) fn is_gzip(start: &[u8]) -> bool {
    start.starts_with(&GZIP_MAGIC)
}

/// Which format the input turned out to be; decided by the magic number, never the file name.
#[derive(Debug)]
pub(crate) enum Parser {
    Detect,
    Pcap(PcapFormat),
    PcapNg(PcapNgFormat),
}

impl Parser {
    pub(crate) fn new() -> Self {
        Parser::Detect
    }

    /// Looks at the next record of `input`. `at_eof` says no more bytes will follow `input`,
    /// which turns an incomplete record into an error instead of [`Step::NeedMore`].
    pub(crate) fn step(&mut self, input: &[u8], at_eof: bool) -> Result<Step, ParseError> {
        match self {
            Parser::Pcap(p) => p.step(input, at_eof),
            Parser::PcapNg(p) => p.step(input, at_eof),
            Parser::Detect => self.detect(input, at_eof),
        }
    }

    fn detect(&mut self, input: &[u8], at_eof: bool) -> Result<Step, ParseError> {
        let Some(magic) = input.first_chunk::<4>() else {
            if !at_eof {
                return Ok(Step::NeedMore(4));
            }
            return Err(ParseError::new(
                0,
                if input.is_empty() {
                    "empty input, not a pcap or pcapng capture".to_string()
                } else {
                    format!(
                        "only {} bytes, too short for a pcap or pcapng capture",
                        input.len()
                    )
                },
            ));
        };
        if *magic == PCAPNG_SHB {
            *self = Parser::PcapNg(PcapNgFormat::new());
            return self.step(input, at_eof);
        }
        if PcapFormat::is_magic(*magic) {
            return match PcapFormat::from_header(input, at_eof)? {
                Some((format, len)) => {
                    *self = Parser::Pcap(format);
                    Ok(Step::Skip(len))
                }
                None => Ok(Step::NeedMore(PcapFormat::HEADER_LEN)),
            };
        }
        if is_gzip(input) {
            return Err(ParseError::new(
                0,
                "gzip-compressed data where a capture was expected (compressed twice?)",
            ));
        }
        Err(ParseError::new(
            0,
            format!(
                "not a pcap or pcapng capture (starts with {:02x} {:02x} {:02x} {:02x})",
                magic[0], magic[1], magic[2], magic[3]
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_short_inputs_are_errors_at_eof() {
        let err = Parser::new().step(&[], true).unwrap_err();
        assert_eq!(err.at, 0);
        assert!(err.message.contains("empty"), "{}", err.message);
        let err = Parser::new().step(&[0xd4, 0xc3], true).unwrap_err();
        assert!(err.message.contains("only 2 bytes"), "{}", err.message);
    }

    #[test]
    fn short_input_before_eof_asks_for_more() {
        assert_eq!(Parser::new().step(&[0xd4], false), Ok(Step::NeedMore(4)));
        // A pcap magic needs the whole 24-byte header.
        let mut p = Parser::new();
        assert_eq!(
            p.step(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0], false),
            Ok(Step::NeedMore(24))
        );
        assert!(matches!(p, Parser::Detect));
    }

    #[test]
    fn unknown_magic_names_the_bytes() {
        let err = Parser::new().step(b"GET / HTTP/1.1\r\n", true).unwrap_err();
        assert_eq!(err.at, 0);
        assert!(err.message.contains("47 45 54 20"), "{}", err.message);
    }

    #[test]
    fn gzip_inside_a_slice_is_explained() {
        let err = Parser::new()
            .step(&[0x1f, 0x8b, 8, 0, 0, 0], true)
            .unwrap_err();
        assert!(err.message.contains("gzip"), "{}", err.message);
    }
}
