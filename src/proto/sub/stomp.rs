//! STOMP 1.0, 1.1 and 1.2 frames over WebSocket (text or binary messages): command, headers
//! (first occurrence wins, 1.1/1.2 escapes undone except in CONNECT/CONNECTED), body (exactly
//! `content-length` bytes when given, else up to the NUL), several frames per message, and
//! heart-beats (a message of end-of-lines only).
//!
//! A frame split across messages is not joined: STOMP over WebSocket puts one frame in a
//! message (RabbitMQ Web-STOMP, stompjs), so a frame without its NUL is reported malformed.
//!
//! Reference: the STOMP 1.2 specification (stomp.github.io/stomp-specification-1.2.html),
//! whose frame examples are the tests.

use super::latency::Role;
use super::{Code, Node, Sink, SubRecord, quoted};
use crate::model::sub_object::Members;

const CLIENT_COMMANDS: [&str; 11] = [
    "SEND",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "BEGIN",
    "COMMIT",
    "ABORT",
    "ACK",
    "NACK",
    "DISCONNECT",
    "CONNECT",
    "STOMP",
];
const SERVER_COMMANDS: [&str; 4] = ["CONNECTED", "MESSAGE", "RECEIPT", "ERROR"];

/// Body characters kept in the record.
const MAX_BODY: usize = 4096;

/// One STOMP frame (or a heart-beat).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StompRecord {
    /// The command (`SEND`, `MESSAGE`, ...), or `HEARTBEAT`.
    pub command: String,
    pub destination: Option<String>,
    /// SUBSCRIBE / UNSUBSCRIBE / ACK / NACK `id`.
    pub id: Option<String>,
    pub subscription: Option<String>,
    pub receipt: Option<String>,
    pub receipt_id: Option<String>,
    pub message_id: Option<String>,
    pub content_type: Option<String>,
    /// CONNECT/STOMP `accept-version`, CONNECTED `version`.
    pub version: Option<String>,
    pub heart_beat: Option<String>,
    /// ERROR `message`.
    pub message: Option<String>,
    /// Every header in frame order, repeated ones included (`passcode` values hidden).
    pub headers: Vec<[String; 2]>,
    pub body_len: usize,
    /// The body as text (its first 4096 characters) when it is UTF-8.
    pub body: Option<String>,
}

impl StompRecord {
    /// Its `sub` object's fields, in order.
    pub(super) fn members<'m>(&'m self, m: &mut Members<'m>) {
        m.str("type", &self.command);
        m.opt_str("destination", &self.destination);
        m.opt_str("id", &self.id);
        m.opt_str("subscription", &self.subscription);
        m.opt_str("receipt", &self.receipt);
        m.opt_str("receipt_id", &self.receipt_id);
        m.opt_str("message_id", &self.message_id);
        m.opt_str("content_type", &self.content_type);
        m.opt_str("version", &self.version);
        m.opt_str("heart_beat", &self.heart_beat);
        m.opt_str("message", &self.message);
        m.value_if(!self.headers.is_empty(), "headers", &self.headers);
        m.value("body_len", &self.body_len);
        m.opt_str("body", &self.body);
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|[n, _]| n == name)
            .map(|[_, v]| v.as_str())
    }

    pub fn summary(&self) -> String {
        let mut s = self.command.clone();
        if let Some(d) = &self.destination {
            s.push(' ');
            s.push_str(&quoted(d, 60));
        }
        for (name, v) in [
            ("id", &self.id),
            ("subscription", &self.subscription),
            ("receipt", &self.receipt),
            ("receipt-id", &self.receipt_id),
            ("version", &self.version),
            ("message", &self.message),
        ] {
            if let Some(v) = v {
                s.push_str(&format!(" {name}={}", quoted(v, 40)));
            }
        }
        if self.body_len > 0 {
            s.push_str(&format!(" ({} body bytes)", self.body_len));
        }
        s
    }

    pub fn details(&self) -> Vec<Node> {
        let mut v = vec![Node::field("Command", &self.command)];
        if !self.headers.is_empty() {
            v.push(Node::branch(
                format!("Headers ({})", self.headers.len()),
                self.headers
                    .iter()
                    .map(|[n, val]| Node::leaf(format!("{n}: {val}")))
                    .collect(),
            ));
        }
        v.push(Node::field("Body length", self.body_len));
        if let Some(body) = &self.body {
            let json = self
                .content_type
                .as_deref()
                .is_some_and(|t| t.contains("json"))
                .then(|| serde_json::from_str::<serde_json::Value>(body).ok())
                .flatten();
            v.push(match json {
                Some(j) => Node::json("Body (JSON)", &j),
                None => Node::branch("Body", body.lines().map(Node::leaf).collect()),
            });
        }
        v
    }

    pub fn pairing(&self) -> Option<Role> {
        match self.command.as_str() {
            "CONNECT" | "STOMP" => Some(Role::Request {
                key: "connect".into(),
                name: self.command.clone(),
            }),
            "CONNECTED" => Some(Role::Reply {
                key: "connect".into(),
                error: false,
            }),
            "RECEIPT" => self.receipt_id.as_ref().map(|r| Role::Reply {
                key: format!("receipt:{r}"),
                error: false,
            }),
            "ERROR" => Some(match &self.receipt_id {
                Some(r) => Role::Reply {
                    key: format!("receipt:{r}"),
                    error: true,
                },
                None => Role::StreamReply {
                    key: "connect".into(),
                    error: true,
                },
            }),
            // A broker may copy a SEND's `receipt` header into the MESSAGE it delivers
            // (RabbitMQ does): only client frames ask for receipts.
            c if !CLIENT_COMMANDS.contains(&c) => None,
            _ => self.receipt.as_ref().map(|r| Role::Request {
                key: format!("receipt:{r}"),
                name: match &self.destination {
                    Some(d) => format!("{} {d}", self.command),
                    None => self.command.clone(),
                },
            }),
        }
    }
}

fn is_eol_only(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(|&c| c == b'\n' || c == b'\r')
}

/// A line up to LF (CR before it removed) and the rest; `None` without an LF.
fn line(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = memchr::memchr(b'\n', b)?;
    let l = &b[..i];
    Some((l.strip_suffix(b"\r").unwrap_or(l), &b[i + 1..]))
}

/// STOMP 1.1/1.2 header value escapes.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('r') => '\r',
            Some('n') => '\n',
            Some('c') => ':',
            Some('\\') => '\\',
            other => {
                return Err(format!(
                    "undefined escape \\{}",
                    other.map(String::from).unwrap_or_default()
                ));
            }
        });
    }
    Ok(out)
}

/// Parses one frame from the start of `b`; returns it and the bytes after it (trailing EOLs
/// skipped). Errors say what is wrong.
pub fn parse_frame(b: &[u8]) -> Result<(StompRecord, &[u8]), String> {
    let (command, mut rest) = line(b).ok_or("no end of line after the command")?;
    let command = std::str::from_utf8(command).map_err(|_| "command is not UTF-8")?;
    let mut r = StompRecord {
        command: command.to_string(),
        ..Default::default()
    };
    let escapes = !matches!(command, "CONNECT" | "CONNECTED");
    let mut content_length = None;
    loop {
        let (l, after) = line(rest).ok_or("headers not ended by a blank line")?;
        rest = after;
        if l.is_empty() {
            break;
        }
        let l = std::str::from_utf8(l).map_err(|_| "a header is not UTF-8")?;
        let (name, value) = l
            .split_once(':')
            .ok_or_else(|| format!("header line {:?} has no colon", super::json::cut(l, 40)))?;
        let (name, value) = if escapes {
            (unescape(name)?, unescape(value)?)
        } else {
            (name.to_string(), value.to_string())
        };
        // Repeated headers: the first is the one that counts (1.2 §Repeated Header Entries).
        let first = r.header(&name).is_none();
        if first {
            let slot = match name.as_str() {
                "destination" => Some(&mut r.destination),
                "id" => Some(&mut r.id),
                "subscription" => Some(&mut r.subscription),
                "receipt" => Some(&mut r.receipt),
                "receipt-id" => Some(&mut r.receipt_id),
                "message-id" => Some(&mut r.message_id),
                "content-type" => Some(&mut r.content_type),
                "accept-version" | "version" => Some(&mut r.version),
                "heart-beat" => Some(&mut r.heart_beat),
                "message" => Some(&mut r.message),
                _ => None,
            };
            if let Some(slot) = slot {
                *slot = Some(value.clone());
            }
            if name == "content-length" {
                content_length = Some(
                    value
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| format!("content-length {value:?} is not a number"))?,
                );
            }
        }
        let value = if name == "passcode" {
            "***".to_string()
        } else {
            value
        };
        r.headers.push([name, value]);
    }
    let (body, after) = match content_length {
        Some(n) => {
            if rest.len() < n + 1 {
                return Err(format!(
                    "content-length {n} runs past the frame ({} bytes follow the headers)",
                    rest.len()
                ));
            }
            if rest[n] != 0 {
                return Err(format!("no NUL after the content-length {n} body"));
            }
            (&rest[..n], &rest[n + 1..])
        }
        None => {
            let i = memchr::memchr(0, rest).ok_or("frame not ended by a NUL")?;
            (&rest[..i], &rest[i + 1..])
        }
    };
    r.body_len = body.len();
    if let Ok(t) = std::str::from_utf8(body)
        && !t.is_empty()
    {
        r.body = Some(super::json::cut(t, MAX_BODY));
    }
    let skip = after
        .iter()
        .take_while(|&&c| c == b'\n' || c == b'\r')
        .count();
    Ok((r, &after[skip..]))
}

pub(super) fn decode(sink: &mut Sink<'_>) {
    let mut b = sink.msg.payload;
    if is_eol_only(b) {
        sink.record(SubRecord::Stomp(StompRecord {
            command: "HEARTBEAT".into(),
            ..Default::default()
        }));
        return;
    }
    while !b.is_empty() {
        match parse_frame(b) {
            Ok((r, rest)) => {
                if !CLIENT_COMMANDS.contains(&r.command.as_str())
                    && !SERVER_COMMANDS.contains(&r.command.as_str())
                {
                    sink.warn(
                        Code::SubStompUnknownCommand,
                        format!("command {}", quoted(&r.command, 40)),
                    );
                }
                sink.record(SubRecord::Stomp(r));
                b = rest;
            }
            Err(why) => {
                if sink.msg.complete() {
                    sink.warn(Code::SubStompMalformed, why);
                } else {
                    sink.warn(
                        Code::SubTruncated,
                        format!(
                            "only the first {} bytes of the message were kept: STOMP frame not decoded",
                            sink.msg.payload.len()
                        ),
                    );
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(s: &str) -> StompRecord {
        let (r, rest) = parse_frame(s.as_bytes()).unwrap();
        assert!(rest.is_empty(), "left: {rest:?}");
        r
    }

    // The frames of the STOMP 1.2 specification.
    #[test]
    fn specification_examples() {
        let r = frame("CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0");
        assert_eq!(
            (r.command.as_str(), r.version.as_deref()),
            ("CONNECT", Some("1.2"))
        );
        let r = frame("CONNECTED\nversion:1.2\n\n\0");
        assert_eq!(r.version.as_deref(), Some("1.2"));
        let r = frame("SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\n\0");
        assert_eq!(r.destination.as_deref(), Some("/queue/a"));
        assert_eq!(r.body.as_deref(), Some("hello queue a\n"));
        assert_eq!(r.summary(), "SEND \"/queue/a\" (14 body bytes)");
        let r = frame("SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0");
        assert_eq!((r.id.as_deref(), r.headers.len()), (Some("0"), 3));
        let r = frame("UNSUBSCRIBE\nid:0\n\n\0");
        assert_eq!(r.id.as_deref(), Some("0"));
        let r = frame("SEND\ndestination:/queue/a\nreceipt:message-12345\n\nhello queue a\0");
        assert_eq!(r.receipt.as_deref(), Some("message-12345"));
        let r = frame("RECEIPT\nreceipt-id:message-12345\n\n\0");
        assert_eq!(r.receipt_id.as_deref(), Some("message-12345"));
        let r = frame(
            "MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\0",
        );
        assert_eq!(
            (r.message_id.as_deref(), r.subscription.as_deref()),
            (Some("007"), Some("0"))
        );
        let r = frame(
            "ERROR\nreceipt-id:message-12345\ncontent-type:text/plain\ncontent-length:170\nmessage:malformed frame received\n\nThe message:\n-----\nMESSAGE\ndestined:/queue/a\nreceipt:message-12345\n\nHello queue a!\n-----\nDid not contain a destination header, which is REQUIRED\nfor message propagation.\n\0",
        );
        assert_eq!(
            (r.body_len, r.message.as_deref()),
            (170, Some("malformed frame received"))
        );
        let r = frame("DISCONNECT\nreceipt:77\n\n\0");
        assert_eq!(r.receipt.as_deref(), Some("77"));
    }

    #[test]
    fn content_length_allows_nul_in_the_body_and_repeated_headers_keep_the_first() {
        let r = frame("SEND\ndestination:/q\ncontent-length:3\ndestination:/other\n\na\0b\0\n\n");
        assert_eq!(r.body_len, 3);
        assert_eq!(r.destination.as_deref(), Some("/q"));
        assert_eq!(r.headers.len(), 3);
    }

    #[test]
    fn escapes_are_undone_except_in_connect() {
        let r = frame("MESSAGE\ndestination:/a\\cb\\nc\\\\\n\n\0");
        assert_eq!(r.destination.as_deref(), Some("/a:b\nc\\"));
        let r = frame("CONNECT\nlogin:a\\cb\npasscode:secret\n\n\0");
        assert_eq!(r.headers[0][1], "a\\cb");
        assert_eq!(r.headers[1][1], "***");
        assert!(parse_frame(b"SEND\ndestination:\\t\n\n\0").is_err());
    }

    #[test]
    fn crlf_lines_and_several_frames() {
        let (a, rest) =
            parse_frame(b"SEND\r\ndestination:/q\r\n\r\nx\0\r\nSEND\ndestination:/r\n\ny\0")
                .unwrap();
        assert_eq!(a.destination.as_deref(), Some("/q"));
        let (b, rest) = parse_frame(rest).unwrap();
        assert_eq!((b.destination.as_deref(), rest.len()), (Some("/r"), 0));
    }

    #[test]
    fn malformed_frames() {
        for bad in [
            &b"SEND"[..],
            b"SEND\ndestination:/q\n",
            b"SEND\nnocolon\n\n\0",
            b"SEND\ndestination:/q\n\nbody without nul",
            b"SEND\ncontent-length:9\n\nabc\0",
            b"SEND\ncontent-length:3\n\nabcd\0",
            b"SEND\ncontent-length:x\n\n\0",
            b"\xff\n\n\0",
        ] {
            assert!(parse_frame(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn receipts_and_connect_pair() {
        let send = frame("SEND\ndestination:/q\nreceipt:r1\n\n\0");
        assert_eq!(
            send.pairing(),
            Some(Role::Request {
                key: "receipt:r1".into(),
                name: "SEND /q".into()
            })
        );
        let receipt = frame("RECEIPT\nreceipt-id:r1\n\n\0");
        assert!(
            matches!(receipt.pairing(), Some(Role::Reply { key, error: false }) if key == "receipt:r1")
        );
        assert!(matches!(
            frame("CONNECTED\nversion:1.2\n\n\0").pairing(),
            Some(Role::Reply { .. })
        ));
        assert_eq!(frame("SEND\ndestination:/q\n\n\0").pairing(), None);
        assert_eq!(
            frame("MESSAGE\ndestination:/q\nreceipt:r1\n\n\0").pairing(),
            None
        );
    }
}
