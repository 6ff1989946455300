//! The opening handshake (RFC 6455 §4, RFC 7692 §5–7.1): the checks on the upgrade request and
//! its 101 response, the `Sec-WebSocket-Accept` computation, and the negotiated subprotocol,
//! extensions and permessage-deflate parameters.
//!
//! Promise: every header value is treated as untrusted bytes; nothing here panics. Each side's
//! problems are reported as one `ws.handshake_invalid` anomaly naming every problem found.
//! A 101 whose request is not in the capture (picked up mid-stream, or the request cut short)
//! is judged on its own: there is no key to check the accept against and no offer to check the
//! choices against, which `ws.request_not_captured` (a note, not a violation) says instead.

use crate::model::{Code, DeflateParams, Handshake};
use crate::proto::dissect::{Cx, OwnedHeaders, Upgrade};
use crate::tcp::Dir;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// RFC 6455 §1.3: appended to the key before hashing.
pub const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a key: base64(SHA-1(key + GUID)).
pub fn expected_accept(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

fn values<'a>(headers: &'a OwnedHeaders, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter_raw()
        .filter(move |(n, _)| is_named(n, name))
        .map(|(_, v)| v.trim_ascii())
}

/// Whether the header name `n` is `name` (the program's, without spaces) once `str::trim`med,
/// without case. Most names differ in length, which settles it: trimming only shortens, so a
/// shorter name never matches and one as long matches only as it is. A longer one can only
/// when it has something to trim: then, and only then, it is checked as UTF-8 and trimmed
/// (httparse accepts no such name, so this is for names read another way).
fn is_named(n: &[u8], name: &str) -> bool {
    match n.len().cmp(&name.len()) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => n.eq_ignore_ascii_case(name.as_bytes()),
        std::cmp::Ordering::Greater => match (n.first(), n.last()) {
            (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => {
                false
            }
            _ => std::str::from_utf8(n).is_ok_and(|n| n.trim().eq_ignore_ascii_case(name)),
        },
    }
}

fn text(value: &[u8]) -> String {
    crate::model::payload::lossy(value).into_owned()
}

/// Splits on `sep` outside double-quoted strings, trimming each part and dropping empty ones
/// (RFC 9110 §5.6.1 allows empty list elements). A separator is only ever found outside quotes
/// and escapes, so each part is scanned from a clean state.
fn split_outside_quotes(value: &[u8], sep: u8) -> SplitOutsideQuotes<'_> {
    SplitOutsideQuotes {
        rest: Some(value),
        sep,
        quotes: value.contains(&b'"'),
    }
}

struct SplitOutsideQuotes<'a> {
    /// What is left to split; `None` once the last part was taken.
    rest: Option<&'a [u8]>,
    sep: u8,
    /// The value has a `"`: parts are cut by the quote-aware scan; without one (nearly every
    /// value), at each separator. Values are short: a plain scan, not `memchr`'s set-up.
    quotes: bool,
}

impl<'a> Iterator for SplitOutsideQuotes<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let rest = self.rest?;
            let end = if self.quotes {
                outside_quotes(rest, self.sep)
            } else {
                rest.iter().position(|&b| b == self.sep)
            };
            let part = match end {
                Some(i) => {
                    self.rest = rest.get(i + 1..);
                    rest.get(..i).unwrap_or_default()
                }
                None => {
                    self.rest = None;
                    rest
                }
            };
            let part = part.trim_ascii();
            if !part.is_empty() {
                return Some(part);
            }
        }
    }
}

/// Where `sep` first appears in `value` outside a double-quoted string.
fn outside_quotes(value: &[u8], sep: u8) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in value.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if b == sep && !quoted {
            return Some(i);
        }
    }
    None
}

/// The comma-separated tokens of every header named `name`.
fn tokens<'a>(headers: &'a OwnedHeaders, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    values(headers, name).flat_map(|v| split_outside_quotes(v, b','))
}

fn has_token(headers: &OwnedHeaders, name: &str, token: &str) -> bool {
    tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// Describes how a token header fails to contain `token`: absent, or present with other values.
fn missing_token(headers: &OwnedHeaders, side: &str, name: &str, token: &str) -> String {
    let present: Vec<String> = values(headers, name).map(text).collect();
    if present.is_empty() {
        format!("{side} lacks `{name}: {token}`")
    } else {
        format!(
            "{side} `{name}: {}` lacks the `{token}` token",
            present.join(", ")
        )
    }
}

/// One extension of a `Sec-WebSocket-Extensions` list: its name and `key[=value]` parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    pub params: Vec<(String, Option<String>)>,
}

impl Extension {
    /// The extension as one string, parameters in order: `permessage-deflate; client_max_window_bits=10`.
    pub fn display(&self) -> String {
        let mut s = self.name.clone();
        for (k, v) in &self.params {
            s.push_str("; ");
            s.push_str(k);
            if let Some(v) = v {
                s.push('=');
                s.push_str(v);
            }
        }
        s
    }
}

/// Parses a `Sec-WebSocket-Extensions` list (RFC 6455 §9.1).
pub fn parse_extensions<'a>(header_values: impl Iterator<Item = &'a [u8]>) -> Vec<Extension> {
    let mut out = Vec::new();
    for value in header_values {
        for ext in split_outside_quotes(value, b',') {
            let mut parts = split_outside_quotes(ext, b';');
            let Some(name) = parts.next() else { continue };
            let params = parts
                .map(|p| match p.iter().position(|&b| b == b'=') {
                    Some(eq) => {
                        let key = p.get(..eq).unwrap_or_default().trim_ascii();
                        let mut val = p.get(eq + 1..).unwrap_or_default().trim_ascii();
                        if let [b'"', inner @ .., b'"'] = val {
                            val = inner;
                        }
                        (text(key), Some(text(val)))
                    }
                    None => (text(p), None),
                })
                .collect();
            out.push(Extension {
                name: text(name),
                params,
            });
        }
    }
    out
}

/// The permessage-deflate parameters a 101 response agreed to (RFC 7692 §7.1), or the list of
/// what is wrong with them.
pub fn deflate_params(ext: &Extension) -> Result<DeflateParams, Vec<String>> {
    let mut params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let mut problems = Vec::new();
    // Names compared without case, as written (no lowercase copy per parameter).
    let mut seen: smallvec::SmallVec<[&str; 4]> = smallvec::SmallVec::new();
    for (key, value) in &ext.params {
        if seen.iter().any(|s| s.eq_ignore_ascii_case(key)) {
            problems.push(format!(
                "permessage-deflate parameter `{key}` appears twice"
            ));
            continue;
        }
        let bits = value
            .as_deref()
            .and_then(|v| v.parse::<u8>().ok())
            .filter(|b| (8..=15).contains(b));
        let is = |name: &str| key.eq_ignore_ascii_case(name);
        let server = key
            .as_bytes()
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"server"));
        if is("server_no_context_takeover") || is("client_no_context_takeover") {
            if value.is_some() {
                problems.push(format!("permessage-deflate `{key}` must not have a value"));
            }
            if server {
                params.server_no_context_takeover = true;
            } else {
                params.client_no_context_takeover = true;
            }
        } else if is("server_max_window_bits") || is("client_max_window_bits") {
            match bits {
                Some(b) if server => params.server_max_window_bits = b,
                Some(b) => params.client_max_window_bits = b,
                None => problems.push(format!(
                    "permessage-deflate `{key}` needs a value 8-15 in a response, got {}",
                    value
                        .as_deref()
                        .map_or("none".to_string(), |v| format!("`{v}`"))
                )),
            }
        } else {
            problems.push(format!("unknown permessage-deflate parameter `{key}`"));
        }
        seen.push(key);
    }
    if problems.is_empty() {
        Ok(params)
    } else {
        Err(problems)
    }
}

/// The request side of the handshake (RFC 6455 §4.1): what is wrong with it, if anything.
fn check_request(req: &OwnedHeaders, problems: &mut Vec<String>) {
    if !has_token(req, "Upgrade", "websocket") {
        problems.push(missing_token(req, "request", "Upgrade", "websocket"));
    }
    if !has_token(req, "Connection", "upgrade") {
        problems.push(missing_token(req, "request", "Connection", "upgrade"));
    }
    let mut keys = values(req, "Sec-WebSocket-Key");
    match (keys.next(), keys.count()) {
        (None, _) => problems.push("request lacks Sec-WebSocket-Key".to_string()),
        (Some(k), 0) => match decoded_len(k) {
            Some(16) => {}
            Some(n) => problems.push(format!(
                "Sec-WebSocket-Key `{}` decodes to {n} bytes, not 16",
                text(k)
            )),
            None => problems.push(format!(
                "Sec-WebSocket-Key `{}` is not base64 (must encode 16 bytes)",
                text(k)
            )),
        },
        (Some(_), more) => problems.push(format!(
            "request has {} Sec-WebSocket-Key headers",
            more + 1
        )),
    }
    match values(req, "Sec-WebSocket-Version").next() {
        None => problems.push("request lacks Sec-WebSocket-Version".to_string()),
        Some(b"13") => {}
        Some(v) => problems.push(format!(
            "request has Sec-WebSocket-Version {}, not 13",
            text(v)
        )),
    }
}

/// How many bytes base64 `b` decodes to (`None`: it is not base64); a key decodes into a
/// buffer on the stack, only a longer value into one of its own.
fn decoded_len(b: &[u8]) -> Option<usize> {
    use base64::DecodeSliceError;
    let engine = base64::engine::general_purpose::STANDARD;
    match engine.decode_slice(b, &mut [0u8; 64]) {
        Ok(n) => Some(n),
        Err(DecodeSliceError::OutputSliceTooSmall) => engine.decode(b).ok().map(|v| v.len()),
        Err(DecodeSliceError::DecodeError(_)) => None,
    }
}

/// Checks an accepted upgrade; returns the handshake record and emits anomalies
/// (`ws.handshake_invalid` per side with every problem named, `ws.accept_mismatch`). The caller
/// emits the handshake record.
pub fn check_handshake(upgrade: &Upgrade, cx: &mut Cx<'_>) -> Handshake {
    let req = &upgrade.request_headers;
    let resp = &upgrade.response_headers;
    let seen = upgrade.request_captured;
    let mut req_problems = Vec::new();
    let mut resp_problems = Vec::new();

    if seen {
        check_request(req, &mut req_problems);
    } else {
        let detail = if upgrade.request_bytes > 0 {
            "the upgrade request this 101 answers was cut short in the capture: the handshake's \
             request side (key, version, offers) cannot be checked"
        } else {
            "the upgrade request this 101 answers is not in the capture: the handshake's request \
             side (key, version, offers) cannot be checked"
        };
        cx.anomaly(
            Code::WsRequestNotCaptured,
            Some(Dir::C2S),
            detail.to_string(),
        );
    }
    let key = values(req, "Sec-WebSocket-Key").next().map(text);
    let version = values(req, "Sec-WebSocket-Version").next().map(text);

    if !has_token(resp, "Upgrade", "websocket") {
        resp_problems.push(missing_token(resp, "101 response", "Upgrade", "websocket"));
    }
    if !has_token(resp, "Connection", "upgrade") {
        resp_problems.push(missing_token(resp, "101 response", "Connection", "upgrade"));
    }
    let accept = values(resp, "Sec-WebSocket-Accept").next().map(text);
    if accept.is_none() {
        resp_problems.push("101 response lacks Sec-WebSocket-Accept".to_string());
    }

    let subprotocol = values(resp, "Sec-WebSocket-Protocol").next().map(text);
    if let Some(p) = &subprotocol
        && seen
        && !tokens(req, "Sec-WebSocket-Protocol").any(|o| o == p.as_bytes())
    {
        resp_problems.push(format!(
            "server selected subprotocol `{p}` that the client did not offer"
        ));
    }

    // Of the offered extensions only the names matter: they are not parsed into records.
    let offered_names = || {
        values(req, "Sec-WebSocket-Extensions")
            .flat_map(|v| split_outside_quotes(v, b','))
            .filter_map(|ext| split_outside_quotes(ext, b';').next())
            .map(String::from_utf8_lossy)
    };
    let extensions = parse_extensions(values(resp, "Sec-WebSocket-Extensions"));
    let mut deflate = None;
    let mut deflate_seen = false;
    for ext in &extensions {
        if seen && !offered_names().any(|o| o.eq_ignore_ascii_case(&ext.name)) {
            resp_problems.push(format!(
                "server accepted extension `{}` that the client did not offer",
                ext.name
            ));
        }
        if ext.name.eq_ignore_ascii_case("permessage-deflate") {
            if deflate_seen {
                resp_problems.push("server accepted permessage-deflate twice".to_string());
                continue;
            }
            deflate_seen = true;
            match deflate_params(ext) {
                Ok(p) => deflate = Some(p),
                Err(problems) => resp_problems.extend(problems),
            }
        }
    }

    let expected = key.as_deref().map(expected_accept);
    let accept_valid = matches!((&accept, &expected), (Some(a), Some(e)) if a == e);

    if !req_problems.is_empty() {
        cx.anomaly(
            Code::WsHandshakeInvalid,
            Some(Dir::C2S),
            req_problems.join("; "),
        );
    }
    if !resp_problems.is_empty() {
        cx.anomaly(
            Code::WsHandshakeInvalid,
            Some(Dir::S2C),
            resp_problems.join("; "),
        );
    }
    if let (Some(a), Some(e)) = (&accept, &expected)
        && a != e
    {
        cx.anomaly(
            Code::WsAcceptMismatch,
            Some(Dir::S2C),
            format!("Sec-WebSocket-Accept is `{a}`, expected `{e}`"),
        );
    }

    Handshake {
        ts: cx.now(),
        key,
        accept,
        expected_accept: expected,
        accept_valid,
        version,
        subprotocol,
        extensions: extensions.iter().map(Extension::display).collect(),
        deflate,
        origin: values(req, "Origin")
            .chain(values(req, "Sec-WebSocket-Origin"))
            .next()
            .map(text),
        request_bytes: upgrade.request_bytes,
        response_bytes: upgrade.response_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::websocket::test_sink::{CollectSink, solo};

    fn headers(list: &[(&str, &str)]) -> OwnedHeaders {
        OwnedHeaders::new(list.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    fn rfc_upgrade() -> Upgrade {
        Upgrade {
            request_target: Some("/chat".into()),
            request_headers: headers(&[
                ("Host", "server.example.com"),
                ("Upgrade", "websocket"),
                ("Connection", "keep-alive, Upgrade"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Origin", "http://example.com"),
                ("Sec-WebSocket-Protocol", "chat, superchat"),
                ("Sec-WebSocket-Version", "13"),
                (
                    "Sec-WebSocket-Extensions",
                    "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame",
                ),
            ]),
            response_headers: headers(&[
                ("Upgrade", "WebSocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                ("Sec-WebSocket-Protocol", "chat"),
                (
                    "sec-websocket-extensions",
                    "permessage-deflate; server_no_context_takeover; client_max_window_bits=\"10\"",
                ),
            ]),
            request_bytes: 300,
            response_bytes: 200,
            held_c2s: Vec::new(),
            request_captured: true,
        }
    }

    fn check(up: &Upgrade) -> (Handshake, CollectSink) {
        let mut solo = solo();
        let mut sink = CollectSink::default();
        let hs = check_handshake(up, &mut solo.cx(CollectSink::pkt(1, 5), &mut sink));
        (hs, sink)
    }

    #[test]
    fn rfc_6455_accept_example() {
        assert_eq!(
            expected_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn accept_matches_tungstenite() {
        for key in [
            "",
            "x",
            "AQIDBAUGBwgJCgsMDQ4PEA==",
            "dGhlIHNhbXBsZSBub25jZQ==",
        ] {
            assert_eq!(
                expected_accept(key),
                tungstenite::handshake::derive_accept_key(key.as_bytes())
            );
        }
    }

    #[test]
    fn valid_handshake_fills_every_field() {
        let (hs, sink) = check(&rfc_upgrade());
        assert!(sink.anomalies().is_empty(), "{:?}", sink.anomalies());
        assert_eq!(hs.key.as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(hs.accept.as_deref(), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        assert_eq!(hs.expected_accept, hs.accept);
        assert!(hs.accept_valid);
        assert_eq!(hs.version.as_deref(), Some("13"));
        assert_eq!(hs.subprotocol.as_deref(), Some("chat"));
        assert_eq!(hs.origin.as_deref(), Some("http://example.com"));
        assert_eq!(
            hs.extensions,
            vec!["permessage-deflate; server_no_context_takeover; client_max_window_bits=10"]
        );
        assert_eq!(
            hs.deflate,
            Some(DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: false,
                server_max_window_bits: 15,
                client_max_window_bits: 10,
            })
        );
        assert_eq!((hs.request_bytes, hs.response_bytes), (300, 200));
        assert_eq!(hs.ts.as_nanos(), 5);
    }

    #[test]
    fn accept_mismatch_names_both_values() {
        let mut up = rfc_upgrade();
        up.response_headers = up
            .response_headers
            .replaced(2, b"AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        let (hs, sink) = check(&up);
        assert!(!hs.accept_valid);
        let a = sink.anomalies();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].code, Code::WsAcceptMismatch);
        assert_eq!(a[0].dir, Some(Dir::S2C));
        assert!(a[0].detail.contains("AAAAAAAAAAAAAAAAAAAAAAAAAAA="));
        assert!(a[0].detail.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    }

    #[test]
    fn handshake_invalid_names_exactly_what_is_missing() {
        let up = Upgrade {
            request_headers: headers(&[
                ("Upgrade", "h2c"),
                ("Connection", "keep-alive"),
                ("Sec-WebSocket-Key", "c2hvcnQ="),
                ("Sec-WebSocket-Version", "8"),
            ]),
            response_headers: headers(&[("Connection", "Upgrade")]),
            request_captured: true,
            ..Upgrade::default()
        };
        let (hs, sink) = check(&up);
        assert!(!hs.accept_valid);
        let a = sink.anomalies();
        assert_eq!(a.len(), 2, "{a:?}");
        assert!(a.iter().all(|a| a.code == Code::WsHandshakeInvalid));
        let req = &a[0].detail;
        assert_eq!(a[0].dir, Some(Dir::C2S));
        assert!(
            req.contains("`Upgrade: h2c` lacks the `websocket` token"),
            "{req}"
        );
        assert!(req.contains("`Connection: keep-alive` lacks the `upgrade` token"));
        assert!(req.contains("decodes to 5 bytes, not 16"));
        assert!(req.contains("Sec-WebSocket-Version 8, not 13"));
        let resp = &a[1].detail;
        assert!(resp.contains("lacks `Upgrade: websocket`"), "{resp}");
        assert!(resp.contains("lacks Sec-WebSocket-Accept"));
        assert!(!resp.contains("Connection"));

        let up = Upgrade {
            request_headers: headers(&[("Upgrade", "websocket"), ("Connection", "upgrade")]),
            response_headers: rfc_upgrade().response_headers,
            request_captured: true,
            ..Upgrade::default()
        };
        let (hs, sink) = check(&up);
        assert_eq!(hs.expected_accept, None);
        let req = &sink.anomalies()[0].detail;
        assert!(req.contains("lacks Sec-WebSocket-Key"), "{req}");
        assert!(req.contains("lacks Sec-WebSocket-Version"));
    }

    #[test]
    fn a_101_whose_request_was_not_captured_is_a_note_not_a_violation() {
        // Picked up mid-stream: only the 101 was seen. Its choices cannot be checked against an
        // offer, its accept not against a key.
        let up = Upgrade {
            response_headers: rfc_upgrade().response_headers,
            response_bytes: 200,
            ..Upgrade::default()
        };
        let (hs, sink) = check(&up);
        let a = sink.anomalies();
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].code, Code::WsRequestNotCaptured);
        assert_eq!(a[0].code.severity(), crate::model::Severity::Info);
        assert!(a[0].detail.contains("is not in the capture"));
        assert_eq!((hs.key, hs.expected_accept), (None, None));
        assert_eq!(hs.subprotocol.as_deref(), Some("chat"));
        assert!(hs.deflate.is_some());
        // The response itself is still judged.
        let up = Upgrade {
            response_headers: headers(&[("Connection", "Upgrade")]),
            request_bytes: 120,
            ..Upgrade::default()
        };
        let (_, sink) = check(&up);
        let a = sink.anomalies();
        assert_eq!(a.len(), 2, "{a:?}");
        assert_eq!(a[0].code, Code::WsRequestNotCaptured);
        assert!(a[0].detail.contains("was cut short"));
        assert_eq!(
            (a[1].code, a[1].dir),
            (Code::WsHandshakeInvalid, Some(Dir::S2C))
        );
    }

    #[test]
    fn negotiation_problems_are_reported() {
        let mut up = rfc_upgrade();
        up.response_headers = up.response_headers.replaced(3, b"superduperchat").replaced(
            4,
            b"permessage-deflate; server_max_window_bits=16; foo, x-unknown",
        );
        let (hs, sink) = check(&up);
        assert_eq!(hs.deflate, None);
        assert_eq!(hs.extensions.len(), 2);
        let d = &sink.anomalies()[0].detail;
        assert!(d.contains("subprotocol `superduperchat`"), "{d}");
        assert!(d.contains("`server_max_window_bits` needs a value 8-15"));
        assert!(d.contains("unknown permessage-deflate parameter `foo`"));
        assert!(d.contains("extension `x-unknown` that the client did not offer"));
    }

    #[test]
    fn keys_and_parameters_are_judged_whatever_their_case_and_length() {
        let judge = |key_headers: &[(&str, &str)]| {
            let mut list = vec![
                ("Upgrade", "websocket"),
                ("Connection", "upgrade"),
                ("Sec-WebSocket-Version", "13"),
            ];
            list.extend_from_slice(key_headers);
            let up = Upgrade {
                request_headers: headers(&list),
                response_headers: rfc_upgrade().response_headers,
                request_captured: true,
                ..Upgrade::default()
            };
            let (_, sink) = check(&up);
            sink.anomalies()
                .iter()
                .filter(|a| a.dir == Some(Dir::C2S))
                .map(|a| a.detail.clone())
                .collect::<String>()
        };
        let key = ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(judge(&[key]), "");
        assert!(judge(&[key, key]).contains("request has 2 Sec-WebSocket-Key headers"));
        assert!(judge(&[("Sec-WebSocket-Key", "not base64!")]).contains("is not base64"));
        // Longer than a key's buffer on the stack: its length is still said.
        let long = base64::engine::general_purpose::STANDARD.encode([7u8; 100]);
        let long_key = judge(&[("Sec-WebSocket-Key", long.as_str())]);
        assert!(
            long_key.contains("decodes to 100 bytes, not 16"),
            "{long_key}"
        );

        let deflate = |params: &str| {
            let ext =
                parse_extensions([format!("permessage-deflate; {params}").as_bytes()].into_iter());
            deflate_params(&ext[0])
        };
        let p = deflate("Server_No_Context_Takeover; CLIENT_MAX_WINDOW_BITS=10").unwrap();
        assert!(p.server_no_context_takeover && !p.client_no_context_takeover);
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (15, 10)
        );
        let twice = deflate("server_max_window_bits=10; SERVER_MAX_WINDOW_BITS=11").unwrap_err();
        assert_eq!(
            twice,
            ["permessage-deflate parameter `SERVER_MAX_WINDOW_BITS` appears twice"]
        );
        let valued = deflate("client_no_context_takeover=1; serverx=2").unwrap_err();
        assert_eq!(
            valued,
            [
                "permessage-deflate `client_no_context_takeover` must not have a value",
                "unknown permessage-deflate parameter `serverx`"
            ]
        );
    }

    #[test]
    fn extension_lists_respect_quotes_and_empty_elements() {
        let v: &[u8] = b"a; p=\"x,y\" ,, b;q ; r = 3";
        let exts = parse_extensions(std::iter::once(v));
        assert_eq!(exts.len(), 2);
        assert_eq!(exts[0].display(), "a; p=x,y");
        assert_eq!(exts[1].display(), "b; q; r=3");
        let d = deflate_params(&Extension {
            name: "permessage-deflate".into(),
            params: vec![
                ("client_no_context_takeover".into(), None),
                ("client_no_context_takeover".into(), None),
            ],
        });
        assert!(d.unwrap_err()[0].contains("twice"));
    }

    /// The straightforward splitter the iterator replaced: scan once, cut at unquoted
    /// separators, trim, drop empty parts.
    fn split_reference(value: &[u8], sep: u8) -> Vec<&[u8]> {
        let mut parts = Vec::new();
        let (mut start, mut quoted, mut escaped) = (0, false, false);
        for (i, &b) in value.iter().enumerate() {
            if escaped {
                escaped = false;
            } else if quoted && b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = !quoted;
            } else if b == sep && !quoted {
                parts.push(value[start..i].trim_ascii());
                start = i + 1;
            }
        }
        parts.push(value[start..].trim_ascii());
        parts.retain(|p| !p.is_empty());
        parts
    }

    proptest::proptest! {
        #[test]
        fn names_match_as_trimmed_text_does(name in "[ \t\u{b}\u{a0}\u{3000}uUpPgGrade]{0,10}") {
            for target in ["Upgrade", "upgrade", "grade", ""] {
                proptest::prop_assert_eq!(
                    is_named(name.as_bytes(), target),
                    name.trim().eq_ignore_ascii_case(target)
                );
            }
        }

        #[test]
        fn splitting_agrees_with_the_reference(
            value in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b'"'),
                    proptest::strategy::Just(b'\\'),
                    proptest::strategy::Just(b','),
                    proptest::strategy::Just(b';'),
                    proptest::strategy::Just(b' '),
                    proptest::prelude::any::<u8>(),
                ],
                0..48,
            ),
        ) {
            for sep in [b',', b';'] {
                let got: Vec<&[u8]> = split_outside_quotes(&value, sep).collect();
                proptest::prop_assert_eq!(got, split_reference(&value, sep));
            }
        }
    }

    #[test]
    fn names_are_trimmed_like_str_trim() {
        for name in [
            "Upgrade",
            "upgrade",
            "UPGRADE",
            " Upgrade",
            "Upgrade\u{b}",
            "\u{a0}Upgrade",
            "\u{a0}upgrade\u{3000}",
            "Upgrades",
            "Upgrad",
            "Üpgrade",
            "",
            " ",
        ] {
            for target in ["Upgrade", "upgrade", ""] {
                assert_eq!(
                    is_named(name.as_bytes(), target),
                    name.trim().eq_ignore_ascii_case(target),
                    "{name:?} against {target:?}"
                );
            }
        }
    }
}
