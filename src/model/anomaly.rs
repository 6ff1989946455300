//! What analysis finds wrong or cannot judge: anomaly codes with their severity (the contract's
//! `layer.what` names, docs/anomalies.md), and the anomaly record.

use crate::filter::{Each, FieldId, OwnFields, RecordType, Value, one};
use crate::model::json::{JsonCx, Plain, ToJson, ts_secs};
use crate::tcp::Dir;
use crate::time::Timestamp;
use serde::ser::{SerializeStruct, Serializer};
use std::ops::ControlFlow;

/// Severity of an anomaly: `check` fails on errors (with `--strict`, on warnings too); an
/// `Info` note says what could not be judged and never fails anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

macro_rules! codes {
    ($($variant:ident => $name:literal, $sev:ident, $doc:literal;)*) => {
        /// Anomaly codes (CONTRACT.md). Names are binding; new codes keep the `layer.what` scheme.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $(#[doc = $doc] $variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];
            pub fn as_str(self) -> &'static str { match self { $(Code::$variant => $name,)* } }
            pub fn severity(self) -> Severity { match self { $(Code::$variant => Severity::$sev,)* } }
            pub fn description(self) -> &'static str { match self { $(Code::$variant => $doc,)* } }
            pub fn parse(s: &str) -> Option<Code> { Code::ALL.iter().copied().find(|c| c.as_str() == s) }
        }
    };
}

codes! {
    WsAcceptMismatch => "ws.accept_mismatch", Error, "Sec-WebSocket-Accept is not base64(SHA-1(key + GUID))";
    WsHandshakeInvalid => "ws.handshake_invalid", Error, "upgrade request or 101 response lacks a required header";
    WsUpgradeRefused => "ws.upgrade_refused", Warning, "upgrade requested, server answered other than 101";
    WsRequestNotCaptured => "ws.request_not_captured", Info, "a 101 whose upgrade request is not (whole) in the capture: the request side of the handshake cannot be checked";
    WsUnmaskedClientFrame => "ws.unmasked_client_frame", Error, "client-to-server frame without mask";
    WsMaskedServerFrame => "ws.masked_server_frame", Error, "server-to-client frame with mask";
    WsReservedOpcode => "ws.reserved_opcode", Error, "opcode 3-7 or 0xB-0xF";
    WsRsvWithoutExtension => "ws.rsv_without_extension", Error, "RSV bit set that no negotiated extension defines";
    WsControlTooLong => "ws.control_too_long", Error, "control frame payload longer than 125 bytes";
    WsControlFragmented => "ws.control_fragmented", Error, "control frame with FIN = 0";
    WsUnexpectedContinuation => "ws.unexpected_continuation", Error, "continuation frame with no message in progress";
    WsInterleavedData => "ws.interleaved_data", Error, "new data frame while a fragmented message is in progress";
    WsInvalidUtf8 => "ws.invalid_utf8", Error, "text message or close reason is not UTF-8";
    WsInvalidCloseCode => "ws.invalid_close_code", Error, "close code not allowed on the wire, or 1-byte close payload";
    WsDataAfterClose => "ws.data_after_close", Error, "frame from a side after that side sent close";
    WsNonMinimalLength => "ws.non_minimal_length", Warning, "payload length not in its shortest encoding";
    WsLengthTooLarge => "ws.length_too_large", Error, "64-bit payload length with the most significant bit set";
    WsInflateError => "ws.inflate_error", Error, "permessage-deflate data that does not inflate";
    WsMessageTooLarge => "ws.message_too_large", Warning, "message beyond the inflate or buffer cap; the rest was skipped";
    WsResync => "ws.resync", Warning, "framing lost after a gap; decoding resumed at a plausible frame header or stopped";
    WsTruncated => "ws.truncated", Warning, "the connection ended inside a WebSocket frame or fragmented message";
    WsInflaterCap => "ws.inflater_cap", Warning, "permessage-deflate messages not inflated: the cap on live inflaters was reached";
    WsBudgetInflater => "ws.budget_inflater", Warning, "memory budget: a permessage-deflate inflater was released; the message in progress is not inflated";
    WsBudgetDisplay => "ws.budget_display", Warning, "memory budget: a WebSocket connection's display bytes were dropped; its previews and dumps stay empty";
    WsBudgetPings => "ws.budget_pings", Warning, "memory budget: pending pings and round-trip times were forgotten";
    WsBudgetCandidate => "ws.budget_candidate", Warning, "memory budget: bytes that looked like WebSocket framing were dropped while awaiting confirmation; confirmed, they are not decoded";
    HttpParseError => "http.parse_error", Error, "bytes on an HTTP stream that do not parse as HTTP/1.x";
    HttpHeadTooLarge => "http.head_too_large", Warning, "HTTP head larger than the configured cap; direction no longer decoded";
    HttpAmbiguousFraming => "http.ambiguous_framing", Error, "Transfer-Encoding together with Content-Length, or in HTTP/1.0 (request smuggling risk); Transfer-Encoding used";
    HttpUpgradeHoldOverflow => "http.upgrade_hold_overflow", Warning, "client bytes after an upgrade or CONNECT request outgrew the hold cap before the response; they were dropped";
    HttpResync => "http.resync", Warning, "HTTP framing lost after a gap (or mid-stream pick-up); bytes skipped to the next start line";
    HttpObsFold => "http.obs_fold", Warning, "obsolete line folding in a header field; unfolded into spaces (RFC 9112 §5.2)";
    HttpFieldSpace => "http.field_space", Warning, "whitespace between a response header name and its colon; stripped (RFC 9112 §5.1)";
    HttpRequestFieldSpace => "http.request_field_space", Error, "whitespace between a request header name and its colon, which a server must reject (RFC 9112 §5.1)";
    HttpTruncated => "http.truncated", Warning, "an HTTP head cut short by a gap, the snaplen or the end of the stream; what it holds is reported";
    HttpRequestsEvicted => "http.requests_evicted", Warning, "more than 1024 requests awaiting responses; the oldest are kept only as their framing needs";
    HttpUpgradeUnanswered => "http.upgrade_unanswered", Warning, "the connection ended while client bytes held after an upgrade request awaited its response; they were not decoded";
    HttpBudgetHead => "http.budget_head", Warning, "memory budget: an incomplete HTTP head was reported for what it holds and dropped (the side resynchronises), or the headers of a message in progress";
    HttpBudgetHold => "http.budget_hold", Warning, "memory budget: client bytes held while an upgrade awaits its response were dropped";
    HttpBudgetPending => "http.budget_pending", Warning, "memory budget: unanswered requests were kept only as what framing their responses needs, or that record (evicted HEAD/CONNECT) was forgotten";
    HttpBudgetDisplay => "http.budget_display", Warning, "memory budget: an HTTP connection's display bytes were dropped; its body previews stay empty";
    TlsMissingSecrets => "tls.missing_secrets", Warning, "the key log has no secrets for this session (named by its client random): its records are counted, not decrypted";
    TlsDecryptFailed => "tls.decrypt_failed", Error, "a record does not authenticate with the key log's secrets: wrong key or corrupted record";
    TlsUnsupportedCipherSuite => "tls.unsupported_cipher_suite", Warning, "the negotiated cipher suite cannot be decrypted (CCM, 3DES, RC4, NULL, unknown)";
    TlsUnsupportedVersion => "tls.unsupported_version", Warning, "the negotiated version (SSL 3.0, TLS 1.0/1.1) cannot be decrypted";
    TlsAlert => "tls.alert", Error, "a fatal alert was received (any TLS 1.3 alert but close_notify and user_canceled)";
    TlsAlertWarning => "tls.alert_warning", Warning, "a warning-level alert other than close_notify was received";
    TlsRecordTooLarge => "tls.record_too_large", Error, "a record over the size limit: 2^14 bytes of plaintext, 2^14+256 (TLS 1.3) or 2^14+2048 (TLS 1.2) of ciphertext";
    TlsDataAfterCloseNotify => "tls.data_after_close_notify", Error, "a record from a side after that side sent close_notify";
    TlsRenegotiation => "tls.renegotiation", Warning, "a TLS 1.2 renegotiation (HelloRequest, or a ClientHello inside the protected session)";
    TlsBadRecord => "tls.bad_record", Error, "bytes where a record header should be that are not one (unknown content type or version), or a record that breaks the layer's rules: analysis resynchronises";
    TlsHandshakeMalformed => "tls.handshake_malformed", Error, "a handshake message that does not parse (lengths inconsistent with its contents)";
    TlsHandshakeTooLong => "tls.handshake_too_long", Warning, "a handshake message longer than the reassembly limit: skipped";
    TlsResync => "tls.resync", Warning, "the record layer was resynchronised after lost bytes, on a record header confirmed by the next header or by decryption";
    TlsTruncatedRecord => "tls.truncated_record", Warning, "the stream ended inside a record";
    TlsBudget => "tls.budget", Warning, "memory budget: the TLS layer gave up a record being assembled, a handshake message being reassembled, bytes scanned after a loss or records held for missing secrets; what they carried is reported lost";
    TcpGap => "tcp.gap", Warning, "bytes missing from a stream (lost before capture)";
    TcpMidstream => "tcp.midstream", Warning, "flow picked up without its SYN";
    TcpOverlapConflict => "tcp.overlap_conflict", Warning, "retransmitted bytes differ from the bytes first seen";
    TcpBufferCap => "tcp.buffer_cap", Warning, "out-of-order data dropped because a reassembly buffer cap was hit";
    TcpFlowCap => "tcp.flow_cap", Warning, "a flow was not tracked because the flow table is full";
    TcpRstOutOfWindow => "tcp.rst_out_of_window", Warning, "a RST its receiver drops: outside the receive window, or answering a SYN without acknowledging it; the flow goes on";
    TcpRstIgnored => "tcp.rst_ignored", Warning, "a RST the connection outlived: its receiver acknowledged bytes sent after it (or the refused handshake went on); analysis took the flow up again";
    TcpBadHeader => "tcp.bad_header", Warning, "a packet on an analyzed port skipped for a broken TCP header (data offset below 5 words or beyond the IP payload, header cut short)";
    IpBadHeader => "ip.bad_header", Warning, "a TCP packet skipped for a broken IP header (IHL below 5, header cut short, broken extension headers)";
    TcpBudgetOoo => "tcp.budget_ooo", Warning, "memory budget: out-of-order bytes were delivered early, the holes before them given up as gaps";
    TcpBudgetEvict => "tcp.budget_evict", Warning, "memory budget: a flow among the largest holders was ended early; its later packets are not analyzed";
    TcpBudgetFlows => "tcp.budget_flows", Warning, "memory budget: new flows are not tracked, the budget cannot hold another flow";
    IpFragment => "ip.fragment", Warning, "IP datagrams whose fragments could not be reassembled (lost, expired, over the cap); their TCP bytes are missing";
    LinkUnknown => "link.unknown", Warning, "packets of a link type sockscope does not decode were skipped";
    SubInvalidJson => "sub.invalid_json", Warning, "a message of a JSON-based sub-protocol is not valid JSON";
    SubNotText => "sub.not_text", Warning, "a binary (or non-UTF-8) message on a sub-protocol that carries only text";
    SubTruncated => "sub.truncated", Info, "a message longer than the bytes kept for decoding: decoded from its first bytes, or not at all";
    SubSocketioMalformed => "sub.socketio_malformed", Warning, "an Engine.IO or Socket.IO packet that does not parse (unknown packet type, bad namespace or ack id, event data not an array)";
    SubSocketioAttachmentMissing => "sub.socketio_attachment_missing", Warning, "a Socket.IO binary event or ack whose announced attachments did not all arrive before the next packet or the end";
    SubSocketioUnexpectedBinary => "sub.socketio_unexpected_binary", Warning, "a binary message that no Socket.IO binary event or ack announced";
    SubStompMalformed => "sub.stomp_malformed", Warning, "a STOMP frame that does not parse (no end of command line, header without a colon, missing NUL, content-length past the frame)";
    SubStompUnknownCommand => "sub.stomp_unknown_command", Warning, "a STOMP frame whose command is none of STOMP 1.0-1.2's";
    SubMqttMalformed => "sub.mqtt_malformed", Warning, "an MQTT control packet that does not parse (reserved type or flags, bad length encoding, a field or property past the packet's end, invalid UTF-8)";
    SubMqttLengthOverrun => "sub.mqtt_length_overrun", Warning, "an MQTT packet's remaining length exceeds the reassembly cap: decoded from its first bytes, the rest skipped";
    SubMqttTruncated => "sub.mqtt_truncated", Warning, "the connection ended (or lost bytes) inside an MQTT packet that began in an earlier message";
    SubMqttTextFrame => "sub.mqtt_text_frame", Warning, "MQTT bytes in a text message: MQTT over WebSocket requires binary messages";
    SubGraphqlInvalid => "sub.graphql_invalid", Warning, "a graphql-ws / graphql-transport-ws message that is not of the protocol's shape (unknown type, missing id or payload)";
    SubSignalrMalformed => "sub.signalr_malformed", Warning, "a SignalR JSON record that does not parse (no 0x1E terminator, unknown type, missing fields)";
    SubJsonrpcInvalid => "sub.jsonrpc_invalid", Warning, "a JSON-RPC 2.0 message that is neither a request, a notification nor a response (or an empty batch)";
    SubWampInvalid => "sub.wamp_invalid", Warning, "a WAMP message that is not an array starting with a known message code, or whose elements have the wrong types";
    SubRequestsEvicted => "sub.requests_evicted", Warning, "more requests awaiting replies than the latency tracker keeps: the oldest were dropped and counted unanswered";
    SubBudget => "sub.budget", Warning, "memory budget: a connection's sub-protocol decoding stopped; its partial packets, pending requests and latency statistics were dropped";
    SubDuplicateRequestId => "sub.duplicate_request_id", Warning, "a request reused an id still awaiting its reply: the earlier request is counted unanswered";
}

/// A protocol violation or an analysis limit: reported, never fatal.
#[derive(Clone, Debug)]
pub struct Anomaly {
    pub code: Code,
    pub dir: Option<Dir>,
    pub ts: Timestamp,
    pub detail: String,
}

impl ToJson for Anomaly {
    fn to_json<S: Serializer>(&self, cx: &JsonCx, s: S) -> Result<S::Ok, S::Error> {
        let mut r = s.serialize_struct("anomaly", 8)?;
        r.serialize_field("type", &Plain::name("anomaly"))?;
        r.serialize_field("flow", &cx.flow)?;
        r.serialize_field("dir", &self.dir.map(|d| Plain::name(d.as_str())))?;
        r.serialize_field("ts", &ts_secs(self.ts))?;
        r.serialize_field("frame", &cx.frame)?;
        r.serialize_field("severity", self.code.severity().as_str())?;
        r.serialize_field("code", self.code.as_str())?;
        r.serialize_field("detail", &self.detail)?;
        cx.layers.write(&mut r)?;
        r.end()
    }
}

impl OwnFields for Anomaly {
    fn record_type(&self) -> RecordType {
        RecordType::Anomaly
    }

    fn own_values(
        &self,
        field: FieldId,
        _key: Option<&str>,
        each: &mut Each<'_>,
    ) -> ControlFlow<()> {
        use FieldId as F;
        match field {
            F::FrameTime => each(Value::Time(self.ts)),
            F::Dir => one(self.dir.map(|d| Value::Sym(d.as_str())), each),
            F::Anomaly => each(Value::Present),
            F::AnomalyCode => each(Value::Sym(self.code.as_str())),
            F::AnomalySeverity => each(Value::Sym(self.code.severity().as_str())),
            F::AnomalyDetail => each(Value::Str(&self.detail)),
            _ => ControlFlow::Continue(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_documented() {
        let doc = include_str!("../../docs/anomalies.md");
        for code in Code::ALL {
            assert!(
                doc.contains(&format!("`{}`", code.as_str())),
                "{} is missing from docs/anomalies.md",
                code.as_str()
            );
        }
    }

    #[test]
    fn the_readme_counts_every_code() {
        let readme = include_str!("../../README.md");
        let said = readme
            .split("- **Anomalies**: ")
            .nth(1)
            .and_then(|rest| rest.split_once(" codes"))
            .and_then(|(n, _)| n.parse::<usize>().ok());
        assert_eq!(
            said,
            Some(Code::ALL.len()),
            "README.md's \"- **Anomalies**: N codes\" must say how many codes there are"
        );
    }

    #[test]
    fn codes_parse_back_and_follow_the_naming_scheme() {
        for &code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(code));
            let (layer, what) = code.as_str().split_once('.').unwrap();
            assert!(["ws", "http", "tls", "tcp", "ip", "link", "sub"].contains(&layer));
            assert!(
                what.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            );
        }
    }
}
