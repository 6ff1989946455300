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
pub mod dissect;
pub mod keylog;
mod session;
pub mod suite;
#[doc(hidden)]
pub mod testkit;
#[cfg(test)]
mod tests;
pub mod wire;

pub use crypto::Secret;
pub use keylog::{KeyLog, KeyLogTail, KeyStore, SessionSecrets};
pub use session::{Epoch, Negotiated, RecordInfo, TlsConn, TlsEvent, TlsSink};

/// The TLS layer's anomaly codes are the `tls.*` codes of the one list ([`Code`](crate::model::Code)).
pub use crate::model::Code as TlsCode;
