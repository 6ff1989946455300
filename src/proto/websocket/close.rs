//! Close frames (RFC 6455 §5.5.1, §7.4): which status codes may appear on the wire, and the
//! checks on a close payload (code, 1-byte payloads, UTF-8 reason).

/// Whether a status code may be sent in a close frame (RFC 6455 §7.4.1–7.4.2 and the IANA
/// registry): 1000–1003, 1007–1014, 3000–4999. 1004 is reserved, 1005, 1006 and 1015 are for
/// local use only, everything else below 3000 is reserved for the protocol.
pub fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A short name for the codes RFC 6455 and the IANA registry define, for details and display.
pub fn close_code_name(code: u16) -> Option<&'static str> {
    Some(match code {
        1000 => "normal closure",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1004 => "reserved",
        1005 => "no status received",
        1006 => "abnormal closure",
        1007 => "invalid frame payload data",
        1008 => "policy violation",
        1009 => "message too big",
        1010 => "mandatory extension",
        1011 => "internal error",
        1012 => "service restart",
        1013 => "try again later",
        1014 => "bad gateway",
        1015 => "TLS handshake",
        _ => return None,
    })
}

/// What the close payload's first two bytes say, once the whole payload is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosePayload {
    /// No payload: no status code (legal).
    Empty,
    /// One byte: a truncated status code (illegal).
    OneByte,
    /// A status code and the reason bytes that follow.
    Code(u16),
}

/// Reads the status code from the (unmasked) start of a close payload of `payload_len` bytes.
/// `head` may hold fewer bytes than the payload; `None` if the code's bytes are not in it.
pub fn parse_close(head: &[u8], payload_len: u64) -> Option<ClosePayload> {
    match payload_len {
        0 => Some(ClosePayload::Empty),
        1 => Some(ClosePayload::OneByte),
        _ => match head {
            [a, b, ..] => Some(ClosePayload::Code(u16::from_be_bytes([*a, *b]))),
            _ => None,
        },
    }
}

/// Why a close code is refused, for the anomaly detail; `None` if it is allowed.
pub fn close_code_problem(code: u16) -> Option<String> {
    if close_code_allowed(code) {
        return None;
    }
    let why = match code {
        0..=999 => "below 1000, never used".to_string(),
        1004 => "1004 is reserved".to_string(),
        1005 | 1006 | 1015 => format!(
            "{code} ({}) is for local use and must not be sent",
            close_code_name(code).unwrap_or("reserved")
        ),
        1016..=2999 => "1016-2999 are reserved for the protocol".to_string(),
        _ => "5000 and above are not defined".to_string(),
    };
    Some(format!("close code {code}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_codes_match_rfc_6455() {
        for code in 0..=u16::MAX {
            let expected = (1000..=1003).contains(&code)
                || (1007..=1014).contains(&code)
                || (3000..=4999).contains(&code);
            assert_eq!(close_code_allowed(code), expected, "{code}");
            assert_eq!(close_code_problem(code).is_none(), expected, "{code}");
        }
        assert!(
            close_code_problem(1005)
                .unwrap()
                .contains("no status received")
        );
        assert!(close_code_problem(999).unwrap().contains("below 1000"));
        assert!(close_code_problem(2000).unwrap().contains("reserved"));
        assert!(close_code_problem(5000).unwrap().contains("not defined"));
    }

    #[test]
    fn payload_shapes() {
        assert_eq!(parse_close(&[], 0), Some(ClosePayload::Empty));
        assert_eq!(parse_close(&[3], 1), Some(ClosePayload::OneByte));
        assert_eq!(
            parse_close(&[0x03, 0xe8, b'o', b'k'], 4),
            Some(ClosePayload::Code(1000))
        );
        // Code bytes lost (gap): unknown.
        assert_eq!(parse_close(&[0x03], 4), None);
        assert_eq!(close_code_name(1001), Some("going away"));
        assert_eq!(close_code_name(4000), None);
    }
}
