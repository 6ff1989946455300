//! TLS 1.2 / 1.3 over one TCP connection, sans I/O: records reassembled across segments,
//! handshake messages across records, the handshake facts (versions, suite, SNI, ALPN,
//! resumption, key exchange group), and — given the NSS key log's secrets — decryption of
//! every record, with resynchronisation after lost segments.
//!
//! [`TlsConn`] is fed each direction's bytes, gaps and ends (exactly what a dissector gets) and
//! reports everything to a [`TlsSink`]: record metadata, handshake messages, alerts, decrypted
//! plaintext as borrowed slices, plaintext gaps, and coded anomalies ([`TlsCode`]). It keeps one
//! record buffer and one handshake buffer per direction, both bounded and reused: decryption
//! happens in place in the record buffer, so each byte is copied once and no record allocates.
//!
//! Layout: [`wire`] (formats and checked views), [`suite`] (cipher suite table), [`crypto`]
//! (key schedules and record protection over RustCrypto), [`keylog`] (the NSS key log),
//! `session` (the state machine).

pub mod crypto;
pub mod keylog;
mod session;
pub mod suite;
#[doc(hidden)]
pub mod testkit;
#[cfg(test)]
mod tests;
pub mod wire;

pub use crypto::Secret;
pub use keylog::{KeyLog, KeyLogTail, SessionSecrets};
pub use session::{Epoch, Negotiated, RecordInfo, TlsConn, TlsEvent, TlsSink};

use crate::model::Severity;

macro_rules! tls_codes {
    ($($variant:ident => $name:literal, $sev:ident, $doc:literal;)*) => {
        /// Anomaly codes of the TLS layer (`tls.*`), each with its severity.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum TlsCode { $(#[doc = $doc] $variant,)* }

        impl TlsCode {
            pub const ALL: &'static [TlsCode] = &[$(TlsCode::$variant,)*];
            pub fn as_str(self) -> &'static str {
                match self { $(TlsCode::$variant => $name,)* }
            }
            pub fn severity(self) -> Severity {
                match self { $(TlsCode::$variant => Severity::$sev,)* }
            }
            pub fn description(self) -> &'static str {
                match self { $(TlsCode::$variant => $doc,)* }
            }
        }
    };
}

tls_codes! {
    MissingSecrets => "tls.missing_secrets", Warning,
        "the key log has no secrets for this session (named by its client random): its records are counted, not decrypted";
    DecryptFailed => "tls.decrypt_failed", Error,
        "a record does not authenticate with the key log's secrets: wrong key or corrupted record";
    UnsupportedCipherSuite => "tls.unsupported_cipher_suite", Warning,
        "the negotiated cipher suite cannot be decrypted (CCM, 3DES, RC4, NULL, unknown)";
    UnsupportedVersion => "tls.unsupported_version", Warning,
        "the negotiated version (SSL 3.0, TLS 1.0/1.1) cannot be decrypted";
    Alert => "tls.alert", Error,
        "a fatal alert was received (any TLS 1.3 alert but close_notify and user_canceled)";
    AlertWarning => "tls.alert_warning", Warning,
        "a warning-level alert other than close_notify was received";
    RecordTooLarge => "tls.record_too_large", Error,
        "a record over the size limit: 2^14 bytes of plaintext, 2^14+256 (TLS 1.3) or 2^14+2048 (TLS 1.2) of ciphertext";
    DataAfterCloseNotify => "tls.data_after_close_notify", Error,
        "a record from a side after that side sent close_notify";
    Renegotiation => "tls.renegotiation", Warning,
        "a TLS 1.2 renegotiation (HelloRequest, or a ClientHello inside the protected session)";
    BadRecord => "tls.bad_record", Error,
        "bytes where a record header should be that are not one (unknown content type or version), or a record that breaks the layer's rules: analysis resynchronises";
    HandshakeMalformed => "tls.handshake_malformed", Error,
        "a handshake message that does not parse (lengths inconsistent with its contents)";
    HandshakeTooLong => "tls.handshake_too_long", Warning,
        "a handshake message longer than the reassembly limit: skipped";
    Resync => "tls.resync", Warning,
        "the record layer was resynchronised after lost bytes, on a record header confirmed by the next header or by decryption";
    TruncatedRecord => "tls.truncated_record", Warning,
        "the stream ended inside a record";
}
