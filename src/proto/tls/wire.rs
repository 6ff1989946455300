//! TLS wire formats (RFC 8446 §4–5, RFC 5246 §6–7): record headers, handshake message headers,
//! and checked read-only views of ClientHello, ServerHello and EncryptedExtensions.
//!
//! Promise: every parser here takes untrusted bytes, checks every length against what is
//! there, never panics, never allocates, and borrows from its input; a view that cannot be
//! built returns `None`. Lists (suites, versions, ALPN names, groups) are handed out as
//! iterators over the raw bytes, so nothing is collected.

pub const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CONTENT_ALERT: u8 = 21;
pub const CONTENT_HANDSHAKE: u8 = 22;
pub const CONTENT_APPLICATION_DATA: u8 = 23;
pub const CONTENT_HEARTBEAT: u8 = 24;

pub const HS_HELLO_REQUEST: u8 = 0;
pub const HS_CLIENT_HELLO: u8 = 1;
pub const HS_SERVER_HELLO: u8 = 2;
pub const HS_NEW_SESSION_TICKET: u8 = 4;
pub const HS_END_OF_EARLY_DATA: u8 = 5;
pub const HS_ENCRYPTED_EXTENSIONS: u8 = 8;
pub const HS_FINISHED: u8 = 20;
pub const HS_KEY_UPDATE: u8 = 24;

const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_ALPN: u16 = 16;
const EXT_ENCRYPT_THEN_MAC: u16 = 22;
const EXT_EXTENDED_MASTER_SECRET: u16 = 23;
const EXT_SESSION_TICKET: u16 = 35;
const EXT_PRE_SHARED_KEY: u16 = 41;
const EXT_EARLY_DATA: u16 = 42;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
const EXT_KEY_SHARE: u16 = 51;

/// Plaintext record fragment limit (RFC 8446 §5.1, RFC 5246 §6.2.1).
pub const MAX_PLAINTEXT: usize = 1 << 14;
/// TLS 1.3 ciphertext limit (RFC 8446 §5.2).
pub const MAX_CIPHERTEXT_13: usize = (1 << 14) + 256;
/// TLS 1.2 ciphertext limit (RFC 5246 §6.2.3).
pub const MAX_CIPHERTEXT_12: usize = (1 << 14) + 2048;

/// The random of a ServerHello that is really a HelloRetryRequest (RFC 8446 §4.1.3).
pub const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// The 5-byte record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub content_type: u8,
    pub version: u16,
    pub len: u16,
}

impl RecordHeader {
    pub const LEN: usize = 5;

    pub fn parse(b: &[u8]) -> Option<RecordHeader> {
        let h = b.get(..5)?;
        Some(RecordHeader {
            content_type: h[0],
            version: u16::from_be_bytes([h[1], h[2]]),
            len: u16::from_be_bytes([h[3], h[4]]),
        })
    }

    pub fn bytes(&self) -> [u8; 5] {
        let [v0, v1] = self.version.to_be_bytes();
        let [l0, l1] = self.len.to_be_bytes();
        [self.content_type, v0, v1, l0, l1]
    }

    /// Could this be a TLS record header? A known content type, an SSL 3.0 – TLS 1.3 record
    /// version, and a length within `max_len`. What resynchronisation and detection look for.
    pub fn plausible(&self, max_len: usize) -> bool {
        (CONTENT_CHANGE_CIPHER_SPEC..=CONTENT_HEARTBEAT).contains(&self.content_type)
            && (0x0300..=0x0304).contains(&self.version)
            && usize::from(self.len) <= max_len
            && self.len > 0
    }
}

/// What a stream's first bytes say about TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniff {
    /// A handshake record holding a ClientHello (or its start): TLS from this side.
    ClientHello,
    /// A handshake record holding a ServerHello: TLS seen from the server's side first.
    ServerHello,
    /// Not TLS.
    NotTls,
    /// Too few bytes to tell (fewer than 6).
    NeedMore,
}

/// Recognises TLS by content, from the first bytes one side sent: a handshake record header
/// (type 22, version 0x0300–0x0304, length 1..=2^14) whose first message is a ClientHello or
/// ServerHello. For a detector: port-independent, and cheap enough for every new flow.
pub fn sniff(first: &[u8]) -> Sniff {
    let Some(h) = RecordHeader::parse(first) else {
        return if first.first().is_none_or(|&b| b == CONTENT_HANDSHAKE)
            && first.get(1).is_none_or(|&b| b == 3)
        {
            Sniff::NeedMore
        } else {
            Sniff::NotTls
        };
    };
    if h.content_type != CONTENT_HANDSHAKE || !h.plausible(MAX_PLAINTEXT) {
        return Sniff::NotTls;
    }
    match first.get(5) {
        None => Sniff::NeedMore,
        Some(&HS_CLIENT_HELLO) => Sniff::ClientHello,
        Some(&HS_SERVER_HELLO) => Sniff::ServerHello,
        Some(_) => Sniff::NotTls,
    }
}

/// A bounds-checked cursor.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b }
    }
    pub fn is_empty(&self) -> bool {
        self.b.is_empty()
    }
    pub fn rest(&self) -> &'a [u8] {
        self.b
    }
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Some(head)
    }
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.bytes(1)?[0])
    }
    pub fn u16(&mut self) -> Option<u16> {
        let b = self.bytes(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    pub fn u24(&mut self) -> Option<u32> {
        let b = self.bytes(3)?;
        Some(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }
    pub fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.bytes(usize::from(n))
    }
    pub fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.bytes(usize::from(n))
    }
}

/// The 4-byte handshake message header: type and body length.
pub fn handshake_header(b: &[u8]) -> Option<(u8, usize)> {
    let mut r = Reader::new(b);
    Some((r.u8()?, r.u24()? as usize))
}

/// `(type, data)` of each extension in a raw extensions block; stops at the first malformed one.
pub fn extensions(raw: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut r = Reader::new(raw);
    std::iter::from_fn(move || {
        let t = r.u16()?;
        let d = r.vec16()?;
        Some((t, d))
    })
}

/// Big-endian u16 values of a raw list.
pub fn u16s(raw: &[u8]) -> impl Iterator<Item = u16> + '_ {
    raw.chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
}

/// The names of an ALPN ProtocolNameList (RFC 7301) without its length prefix.
pub fn alpn_names(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut r = Reader::new(raw);
    std::iter::from_fn(move || r.vec8())
}

/// A ClientHello, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHello<'a> {
    pub legacy_version: u16,
    pub random: &'a [u8; 32],
    pub session_id: &'a [u8],
    /// Raw list of u16 suites: see [`ClientHello::suites`].
    pub cipher_suites: &'a [u8],
    /// Raw extensions block.
    pub extensions: &'a [u8],
    /// `server_name` host name (RFC 6066), as sent.
    pub sni: Option<&'a [u8]>,
    /// Raw ProtocolNameList: see [`ClientHello::alpn`].
    pub alpn: Option<&'a [u8]>,
    /// Raw `supported_versions` list (TLS 1.3 capable clients).
    pub supported_versions: Option<&'a [u8]>,
    /// Raw `supported_groups` list.
    pub supported_groups: Option<&'a [u8]>,
    /// Raw `key_share` KeyShareEntry list.
    pub key_shares: Option<&'a [u8]>,
    pub encrypt_then_mac: bool,
    pub extended_master_secret: bool,
    pub session_ticket: bool,
    pub pre_shared_key: bool,
    pub early_data: bool,
}

impl<'a> ClientHello<'a> {
    /// Parses a ClientHello body (after the 4-byte handshake header).
    pub fn parse(body: &'a [u8]) -> Option<ClientHello<'a>> {
        let mut r = Reader::new(body);
        let legacy_version = r.u16()?;
        let random: &[u8; 32] = r.bytes(32)?.try_into().ok()?;
        let session_id = r.vec8()?;
        let cipher_suites = r.vec16()?;
        let _compression = r.vec8()?;
        let extensions = if r.is_empty() { &[][..] } else { r.vec16()? };
        let mut ch = ClientHello {
            legacy_version,
            random,
            session_id,
            cipher_suites,
            extensions,
            sni: None,
            alpn: None,
            supported_versions: None,
            supported_groups: None,
            key_shares: None,
            encrypt_then_mac: false,
            extended_master_secret: false,
            session_ticket: false,
            pre_shared_key: false,
            early_data: false,
        };
        for (t, d) in self::extensions(extensions) {
            let mut e = Reader::new(d);
            match t {
                EXT_SERVER_NAME => {
                    let mut list = Reader::new(e.vec16()?);
                    while !list.is_empty() {
                        let kind = list.u8()?;
                        let name = list.vec16()?;
                        if kind == 0 && ch.sni.is_none() {
                            ch.sni = Some(name);
                        }
                    }
                }
                EXT_ALPN => ch.alpn = Some(e.vec16()?),
                EXT_SUPPORTED_VERSIONS => ch.supported_versions = Some(e.vec8()?),
                EXT_SUPPORTED_GROUPS => ch.supported_groups = Some(e.vec16()?),
                EXT_KEY_SHARE => ch.key_shares = Some(e.vec16()?),
                EXT_ENCRYPT_THEN_MAC => ch.encrypt_then_mac = true,
                EXT_EXTENDED_MASTER_SECRET => ch.extended_master_secret = true,
                EXT_SESSION_TICKET => ch.session_ticket = true,
                EXT_PRE_SHARED_KEY => ch.pre_shared_key = true,
                EXT_EARLY_DATA => ch.early_data = true,
                _ => {}
            }
        }
        Some(ch)
    }

    /// Offered suites, GREASE included (as sent).
    pub fn suites(&self) -> impl Iterator<Item = u16> + 'a {
        u16s(self.cipher_suites)
    }

    /// Offered versions: `supported_versions` when present, else the legacy version.
    pub fn versions(&self) -> impl Iterator<Item = u16> + 'a {
        let list = self.supported_versions.unwrap_or(&[]);
        let legacy = self
            .supported_versions
            .is_none()
            .then_some(self.legacy_version);
        u16s(list).chain(legacy)
    }

    /// The highest offered version, GREASE ignored.
    pub fn max_version(&self) -> u16 {
        self.versions()
            .filter(|&v| !super::suite::is_grease(v))
            .max()
            .unwrap_or(self.legacy_version)
    }

    /// Offered ALPN protocol names.
    pub fn alpn(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        alpn_names(self.alpn.unwrap_or(&[]))
    }

    /// Groups of the offered key shares.
    pub fn key_share_groups(&self) -> impl Iterator<Item = u16> + 'a {
        let mut r = Reader::new(self.key_shares.unwrap_or(&[]));
        std::iter::from_fn(move || {
            let g = r.u16()?;
            r.vec16()?;
            Some(g)
        })
    }
}

/// A ServerHello (or HelloRetryRequest), borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerHello<'a> {
    pub legacy_version: u16,
    pub random: &'a [u8; 32],
    pub session_id: &'a [u8],
    pub cipher_suite: u16,
    pub extensions: &'a [u8],
    /// `supported_versions` (TLS 1.3).
    pub selected_version: Option<u16>,
    /// `key_share` group (TLS 1.3; in a HelloRetryRequest the group asked for).
    pub key_share_group: Option<u16>,
    /// ALPN protocol chosen (TLS ≤ 1.2: TLS 1.3 sends it encrypted, in EncryptedExtensions).
    pub alpn: Option<&'a [u8]>,
    pub encrypt_then_mac: bool,
    pub extended_master_secret: bool,
    /// A TLS 1.3 PSK was accepted (resumption).
    pub pre_shared_key: bool,
    pub hello_retry: bool,
}

impl<'a> ServerHello<'a> {
    pub fn parse(body: &'a [u8]) -> Option<ServerHello<'a>> {
        let mut r = Reader::new(body);
        let legacy_version = r.u16()?;
        let random: &[u8; 32] = r.bytes(32)?.try_into().ok()?;
        let session_id = r.vec8()?;
        let cipher_suite = r.u16()?;
        let _compression = r.u8()?;
        let extensions = if r.is_empty() { &[][..] } else { r.vec16()? };
        let hello_retry = *random == HELLO_RETRY_RANDOM;
        let mut sh = ServerHello {
            legacy_version,
            random,
            session_id,
            cipher_suite,
            extensions,
            selected_version: None,
            key_share_group: None,
            alpn: None,
            encrypt_then_mac: false,
            extended_master_secret: false,
            pre_shared_key: false,
            hello_retry,
        };
        for (t, d) in self::extensions(extensions) {
            let mut e = Reader::new(d);
            match t {
                EXT_SUPPORTED_VERSIONS => sh.selected_version = Some(e.u16()?),
                EXT_KEY_SHARE => sh.key_share_group = Some(e.u16()?),
                EXT_ALPN => sh.alpn = alpn_names(e.vec16()?).next(),
                EXT_ENCRYPT_THEN_MAC => sh.encrypt_then_mac = true,
                EXT_EXTENDED_MASTER_SECRET => sh.extended_master_secret = true,
                EXT_PRE_SHARED_KEY => sh.pre_shared_key = true,
                _ => {}
            }
        }
        Some(sh)
    }

    /// The negotiated version.
    pub fn version(&self) -> u16 {
        self.selected_version.unwrap_or(self.legacy_version)
    }
}

/// The ALPN protocol in an EncryptedExtensions body (TLS 1.3), if any. `None` also when the
/// body does not parse.
pub fn encrypted_extensions_alpn(body: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(body);
    let exts = r.vec16()?;
    extensions(exts)
        .find(|(t, _)| *t == EXT_ALPN)
        .and_then(|(_, d)| alpn_names(Reader::new(d).vec16()?).next())
}

/// A handshake message type's name.
pub fn handshake_name(t: u8) -> &'static str {
    match t {
        0 => "HelloRequest",
        1 => "ClientHello",
        2 => "ServerHello",
        4 => "NewSessionTicket",
        5 => "EndOfEarlyData",
        8 => "EncryptedExtensions",
        11 => "Certificate",
        12 => "ServerKeyExchange",
        13 => "CertificateRequest",
        14 => "ServerHelloDone",
        15 => "CertificateVerify",
        16 => "ClientKeyExchange",
        20 => "Finished",
        21 => "CertificateUrl",
        22 => "CertificateStatus",
        24 => "KeyUpdate",
        25 => "CompressedCertificate",
        254 => "MessageHash",
        _ => "Unknown",
    }
}

/// A record content type's name.
pub fn content_name(t: u8) -> &'static str {
    match t {
        CONTENT_CHANGE_CIPHER_SPEC => "ChangeCipherSpec",
        CONTENT_ALERT => "Alert",
        CONTENT_HANDSHAKE => "Handshake",
        CONTENT_APPLICATION_DATA => "ApplicationData",
        CONTENT_HEARTBEAT => "Heartbeat",
        _ => "Unknown",
    }
}

/// An alert description's name (RFC 8446 §6).
pub fn alert_name(d: u8) -> &'static str {
    match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8448 §3 ClientHello (simple 1-RTT handshake), body after the handshake header.
    pub(crate) const RFC8448_CLIENT_HELLO: &str = "\
        0303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7000006130113031302\
        010000910000000b0009000006736572766572ff01000100000a00140012001d0017001800190100010101\
        020103010400230000003300260024001d002099381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d\
        5413691e529aaf2c002b0003020304000d0020001e040305030603020308040805080604010501060102010\
        402050206020202002d00020101001c00024001";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn rfc8448_client_hello() {
        let body = hex(RFC8448_CLIENT_HELLO);
        let ch = ClientHello::parse(&body).expect("parses");
        assert_eq!(ch.legacy_version, 0x0303);
        assert_eq!(ch.random[0], 0xcb);
        assert_eq!(ch.suites().collect::<Vec<_>>(), [0x1301, 0x1303, 0x1302]);
        assert_eq!(ch.sni, Some(&b"server"[..]));
        assert_eq!(ch.versions().collect::<Vec<_>>(), [0x0304]);
        assert_eq!(ch.max_version(), 0x0304);
        assert_eq!(ch.key_share_groups().collect::<Vec<_>>(), [0x001d]);
        assert!(ch.session_ticket && !ch.early_data && ch.alpn.is_none());
        // Every truncation is refused or parses a prefix consistently, never panics.
        for n in 0..body.len() {
            let _ = ClientHello::parse(&body[..n]);
        }
    }

    #[test]
    fn rfc8448_server_hello() {
        let body = hex(
            "0303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e\
             00330024001d0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f\
             002b00020304",
        );
        let sh = ServerHello::parse(&body).expect("parses");
        assert_eq!(sh.cipher_suite, 0x1301);
        assert_eq!(sh.version(), 0x0304);
        assert_eq!(sh.key_share_group, Some(0x001d));
        assert!(!sh.hello_retry && !sh.pre_shared_key);
        for n in 0..body.len() {
            let _ = ServerHello::parse(&body[..n]);
        }
    }

    #[test]
    fn sniffing_first_bytes() {
        assert_eq!(sniff(&[0x16, 3, 1, 0, 0xc4, 1, 0, 0]), Sniff::ClientHello);
        assert_eq!(sniff(&[0x16, 3, 3, 0, 0x5a, 2]), Sniff::ServerHello);
        assert_eq!(sniff(b"GET / HTTP/1.1\r\n"), Sniff::NotTls);
        assert_eq!(sniff(&[0x16, 3, 1, 0, 0xc4]), Sniff::NeedMore);
        assert_eq!(sniff(&[0x16]), Sniff::NeedMore);
        assert_eq!(sniff(&[]), Sniff::NeedMore);
        assert_eq!(sniff(&[0x16, 4]), Sniff::NotTls);
        assert_eq!(sniff(&[0x17, 3, 3, 0, 5, 1]), Sniff::NotTls);
        assert_eq!(sniff(&[0x16, 3, 3, 0x40, 0x01, 1]), Sniff::NotTls);
        assert_eq!(sniff(&[0x16, 3, 3, 0, 4, 11]), Sniff::NotTls);
    }

    #[test]
    fn alpn_lists_and_record_headers() {
        let raw = b"\x02h2\x08http/1.1";
        assert_eq!(
            alpn_names(raw).collect::<Vec<_>>(),
            [&b"h2"[..], &b"http/1.1"[..]]
        );
        let ee = b"\x00\x0b\x00\x10\x00\x07\x00\x05\x04h2c2";
        assert_eq!(encrypted_extensions_alpn(ee), Some(&b"h2c2"[..]));
        let ee = b"\x00\x09\x00\x10\x00\x05\x00\x03\x02h2";
        assert_eq!(encrypted_extensions_alpn(ee), Some(&b"h2"[..]));
        let h = RecordHeader::parse(&[23, 3, 3, 0x40, 0x11]).expect("header");
        assert!(h.plausible(MAX_CIPHERTEXT_13));
        assert!(!h.plausible(MAX_PLAINTEXT));
        assert!(
            !RecordHeader::parse(&[25, 3, 3, 0, 1])
                .expect("h")
                .plausible(100)
        );
        assert!(
            !RecordHeader::parse(&[23, 4, 3, 0, 1])
                .expect("h")
                .plausible(100)
        );
        assert!(RecordHeader::parse(&[23, 3]).is_none());
        assert_eq!(h.bytes(), [23, 3, 3, 0x40, 0x11]);
    }
}
