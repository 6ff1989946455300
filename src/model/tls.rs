//! TLS records: what the handshake and the record layer told (handshake messages with the
//! facts they carry, alerts, key changes), the record layer a decrypted record came through
//! ([`RecordLayer`], for the `-V` tree and `-x` dumps of what was found inside), and a flow's
//! TLS facts and costs ([`TlsSummary`], the `tls` object of its flow record).

use crate::filter::{Each, FieldId, OwnFields, RecordType, Value, one};
use crate::model::json::{JsonCx, Plain, ToJson, ts_secs};
use crate::tcp::Dir;
use crate::time::Timestamp;
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use std::ops::ControlFlow;

/// What a `tls` record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsWhat {
    /// A complete handshake message (`msg_type` as on the wire).
    Handshake { msg_type: u8 },
    /// An alert: level 1 (warning) or 2 (fatal), and its description.
    Alert { level: u8, description: u8 },
    /// A ChangeCipherSpec record.
    ChangeCipherSpec,
    /// A direction's keys changed: `generation` 0 is the first application keys (TLS 1.3
    /// after Finished, TLS 1.2 after ChangeCipherSpec), each KeyUpdate adds one.
    Keys { generation: u32 },
}

/// One fact of the TLS layer of a flow.
#[derive(Clone, Debug)]
pub struct TlsRecord<'a> {
    pub dir: Dir,
    pub ts: Timestamp,
    pub what: TlsWhat,
    /// Message or record name (`ClientHello`, `close_notify`, `KeyUpdate`).
    pub name: &'static str,
    /// Handshake message body length.
    pub len: u32,
    /// Came inside protected records.
    pub encrypted: bool,
    /// The record version or, on the ServerHello, the version negotiated (`TLS 1.3`).
    pub version: Option<&'static str>,
    /// ServerHello: the suite selected; ClientHello: the number offered is in `suites`.
    pub cipher_suite: Option<u16>,
    pub cipher_suite_name: Option<&'static str>,
    /// ClientHello: cipher suites offered.
    pub suites_offered: Option<u32>,
    /// ClientHello: server name.
    pub sni: Option<&'a str>,
    /// ClientHello: protocols offered; ServerHello / EncryptedExtensions: the one selected.
    pub alpn: Vec<&'a str>,
    /// ServerHello: a session resumed.
    pub resumed: Option<bool>,
}

impl<'a> TlsRecord<'a> {
    pub fn new(dir: Dir, ts: Timestamp, what: TlsWhat, name: &'static str) -> TlsRecord<'a> {
        TlsRecord {
            dir,
            ts,
            what,
            name,
            len: 0,
            encrypted: false,
            version: None,
            cipher_suite: None,
            cipher_suite_name: None,
            suites_offered: None,
            sni: None,
            alpn: Vec::new(),
            resumed: None,
        }
    }

    /// The contract's name of what the record is about.
    pub fn kind_name(&self) -> &'static str {
        match self.what {
            TlsWhat::Handshake { .. } => "handshake",
            TlsWhat::Alert { .. } => "alert",
            TlsWhat::ChangeCipherSpec => "change_cipher_spec",
            TlsWhat::Keys { .. } => "keys",
        }
    }
}

impl ToJson for TlsRecord<'_> {
    fn to_json<S: Serializer>(&self, cx: &JsonCx, s: S) -> Result<S::Ok, S::Error> {
        let mut r = s.serialize_struct("tls", 18)?;
        r.serialize_field("type", &Plain::name("tls"))?;
        r.serialize_field("flow", &cx.flow)?;
        r.serialize_field("dir", &Plain::name(self.dir.as_str()))?;
        r.serialize_field("ts", &ts_secs(self.ts))?;
        r.serialize_field("frame", &cx.frame)?;
        r.serialize_field("kind", self.kind_name())?;
        r.serialize_field("name", self.name)?;
        let (msg_type, level, description, generation) = match self.what {
            TlsWhat::Handshake { msg_type } => (Some(msg_type), None, None, None),
            TlsWhat::Alert { level, description } => (None, Some(level), Some(description), None),
            TlsWhat::ChangeCipherSpec => (None, None, None, None),
            TlsWhat::Keys { generation } => (None, None, None, Some(generation)),
        };
        r.serialize_field("handshake_type", &msg_type)?;
        r.serialize_field(
            "len",
            &matches!(self.what, TlsWhat::Handshake { .. }).then_some(self.len),
        )?;
        r.serialize_field("encrypted", &self.encrypted)?;
        r.serialize_field("version", &self.version)?;
        r.serialize_field("cipher_suite", &self.cipher_suite_name)?;
        r.serialize_field("cipher_suite_id", &self.cipher_suite)?;
        r.serialize_field("suites_offered", &self.suites_offered)?;
        r.serialize_field("sni", &self.sni)?;
        r.serialize_field("alpn", &self.alpn)?;
        r.serialize_field("resumed", &self.resumed)?;
        r.serialize_field("alert_level", &level)?;
        r.serialize_field("alert_description", &description)?;
        r.serialize_field("generation", &generation)?;
        cx.layers.write(&mut r)?;
        r.end()
    }
}

/// The TLS record a decrypted record was found in (the last one, when what was found spans
/// several): shown above the decrypted tree by `-V`, its ciphertext by `-x`.
#[derive(Clone, Copy, Debug)]
pub struct RecordLayer<'a> {
    pub content_type: u8,
    pub version: u16,
    /// Fragment length (after the 5-byte header).
    pub len: u16,
    pub seq: Option<u64>,
    /// The first bytes of the fragment as captured (ciphertext), when `-x` keeps them.
    pub ciphertext: &'a [u8],
}

/// A flow's TLS: what was negotiated and what the record layer carried and cost. Counts are
/// per direction (client to server first).
#[derive(Clone, Debug, Default, Serialize)]
pub struct TlsSummary {
    pub version: Option<&'static str>,
    pub cipher_suite: Option<&'static str>,
    pub sni: Option<String>,
    /// ALPN: the protocol selected, else (without keys for TLS 1.3) the client's offer.
    pub alpn: Option<String>,
    pub alpn_offered: Vec<String>,
    pub resumed: bool,
    /// The session's application data was decrypted (given the key log's secrets).
    pub decrypted: bool,
    pub records: [u64; 2],
    /// Records decrypted and authenticated.
    pub records_decrypted: [u64; 2],
    /// Bytes of every record, headers included.
    pub record_bytes: [u64; 2],
    /// Record headers (5 bytes each).
    pub record_header_bytes: [u64; 2],
    /// What protection adds to each record: explicit IV or nonce, AEAD tag or MAC, padding,
    /// the TLS 1.3 inner content type byte.
    pub protection_bytes: [u64; 2],
    /// Handshake, ChangeCipherSpec and alert records' fragments (encrypted or not).
    pub handshake_bytes: [u64; 2],
    /// Application data decrypted (what the inner protocol was given).
    pub plaintext_bytes: [u64; 2],
    /// Application data bytes that could not be delivered (lost records, failed decryption),
    /// when knowable.
    pub plaintext_gap_bytes: [u64; 2],
    pub alerts: u64,
    pub key_updates: u64,
}

impl TlsSummary {
    /// What TLS added to one direction's plaintext: record headers, protection and handshake.
    pub fn overhead(&self, d: usize) -> u64 {
        self.record_header_bytes[d] + self.protection_bytes[d] + self.handshake_bytes[d]
    }
}

impl OwnFields for TlsRecord<'_> {
    fn record_type(&self) -> RecordType {
        RecordType::Tls
    }

    fn own_values(
        &self,
        field: FieldId,
        _key: Option<&str>,
        each: &mut Each<'_>,
    ) -> ControlFlow<()> {
        use FieldId as F;
        let (msg_type, alert) = match self.what {
            TlsWhat::Handshake { msg_type } => (Some(msg_type), None),
            TlsWhat::Alert { level, description } => (None, Some((level, description))),
            TlsWhat::ChangeCipherSpec | TlsWhat::Keys { .. } => (None, None),
        };
        match field {
            F::FrameTime => each(Value::Time(self.ts)),
            F::Dir => each(Value::Sym(self.dir.as_str())),
            F::Tls => each(Value::Present),
            F::TlsSni => one(self.sni.map(Value::Str), each),
            F::TlsAlpn => self.alpn.iter().try_for_each(|a| each(Value::Str(a))),
            F::TlsVersion => one(self.version.map(Value::Str), each),
            F::TlsCipher => one(self.cipher_suite_name.map(Value::Str), each),
            F::TlsResumed => one(self.resumed.map(Value::Bool), each),
            F::TlsKind => each(Value::Sym(self.kind_name())),
            F::TlsName => each(Value::Str(self.name)),
            F::TlsHandshakeType => one(msg_type.map(|t| Value::Int(t.into())), each),
            F::TlsAlertLevel => one(alert.map(|(l, _)| Value::Int(l.into())), each),
            F::TlsAlertDescription => one(alert.map(|(_, d)| Value::Int(d.into())), each),
            F::TlsEncrypted => each(Value::Bool(self.encrypted)),
            _ => ControlFlow::Continue(()),
        }
    }
}

impl TlsSummary {
    /// The flow record's `tls.*` fields (its `tls` object).
    pub fn own_values(&self, field: FieldId, each: &mut Each<'_>) -> ControlFlow<()> {
        use FieldId as F;
        match field {
            F::Tls => each(Value::Present),
            F::TlsSni => one(self.sni.as_deref().map(Value::Str), each),
            F::TlsAlpn => self
                .alpn
                .iter()
                .chain(&self.alpn_offered)
                .try_for_each(|a| each(Value::Str(a))),
            F::TlsVersion => one(self.version.map(Value::Str), each),
            F::TlsCipher => one(self.cipher_suite.map(Value::Str), each),
            F::TlsResumed => each(Value::Bool(self.resumed)),
            F::TlsDecrypted => each(Value::Bool(self.decrypted)),
            _ => ControlFlow::Continue(()),
        }
    }
}
