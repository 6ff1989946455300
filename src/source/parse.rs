//! The format-independent core of every file source: given the unread bytes of a capture, say
//! what the next record is, without knowing whether the bytes come from a memory map or a
//! refillable buffer.
//!
//! Promise: [`Parser::step`] never panics, never reads outside `input`, and changes no state when
//! it answers [`Step::NeedMore`], so a streaming driver can refill and ask again. Ranges in the
//! answer are relative to `input`. No step ever asks for more than [`MAX_RECORD`](super::record::MAX_RECORD) bytes.

use super::pcap::PcapFormat;
use super::pcapng::PcapNgFormat;
use super::record::{ParseError, Step};

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
