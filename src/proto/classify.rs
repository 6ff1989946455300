//! A flow's kind, and content detection for `--any-port` and mid-stream pick-up.

/// Does `data` (the first bytes one side sent) start like an HTTP/1.x request line?
pub fn looks_like_http_request(data: &[u8]) -> bool {
    const METHODS: &[&[u8]] = &[
        b"GET ",
        b"POST ",
        b"PUT ",
        b"HEAD ",
        b"DELETE ",
        b"OPTIONS ",
        b"PATCH ",
        b"CONNECT ",
        b"TRACE ",
    ];
    METHODS
        .iter()
        .any(|m| data.len() >= m.len() && &data[..m.len()] == *m)
}

/// Does `data` start like an HTTP/1.x status line?
pub fn looks_like_http_response(data: &[u8]) -> bool {
    data.starts_with(b"HTTP/1.")
}

/// Role hint for the flow table: the side that sends a request (or masked WebSocket frames) is
/// the client; the side that sends a status line (or unmasked frames) is the server.
pub fn role_hint(data: &[u8]) -> Option<bool> {
    if looks_like_http_request(data) {
        Some(true)
    } else if looks_like_http_response(data) {
        Some(false)
    } else {
        crate::proto::websocket::sniff_frames(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_lines() {
        assert!(looks_like_http_request(b"GET /chat HTTP/1.1\r\n"));
        assert!(!looks_like_http_request(b"GETX"));
        assert!(!looks_like_http_request(b"GE"));
        assert!(looks_like_http_response(
            b"HTTP/1.1 101 Switching Protocols\r\n"
        ));
        assert_eq!(role_hint(b"POST / HTTP/1.0\r\n"), Some(true));
        assert_eq!(role_hint(b"HTTP/1.0 200 OK\r\n"), Some(false));
    }
}
