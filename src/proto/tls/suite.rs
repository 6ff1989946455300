//! Cipher suites: what each IANA code point means for the record layer (cipher, MAC, PRF hash,
//! key and IV sizes) and its name. Only suites that [`super::crypto`] can decrypt have a
//! [`Suite`]; [`name`] also knows the common ones it cannot, so reports can still name them.

/// The bulk cipher of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
    Aes128Cbc,
    Aes256Cbc,
}

impl Cipher {
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Gcm | Cipher::Aes128Cbc => 16,
            Cipher::Aes256Gcm | Cipher::ChaCha20Poly1305 | Cipher::Aes256Cbc => 32,
        }
    }
    pub fn is_aead(self) -> bool {
        !matches!(self, Cipher::Aes128Cbc | Cipher::Aes256Cbc)
    }
}

/// A hash: the PRF / HKDF hash, or the HMAC of a CBC suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
    Sha384,
}

impl Hash {
    pub fn output_len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

/// A suite the record layer can decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    pub id: u16,
    pub name: &'static str,
    pub cipher: Cipher,
    /// HMAC of a CBC suite; `None` for AEAD suites.
    pub mac: Option<Hash>,
    /// The PRF hash (TLS 1.2) or HKDF hash (TLS 1.3).
    pub hash: Hash,
    /// A TLS 1.3 suite (usable only with TLS 1.3, and the only ones usable with it).
    pub tls13: bool,
}

impl Suite {
    /// Bytes of the fixed IV that the key schedule yields for one direction: the 4-byte GCM salt
    /// of TLS 1.2 (RFC 5288), the 12-byte nonce mask of ChaCha20-Poly1305 (RFC 7905) and of
    /// every TLS 1.3 suite, nothing for CBC (TLS ≥ 1.1 sends the IV in each record).
    pub fn fixed_iv_len(&self) -> usize {
        match (self.tls13, self.cipher) {
            (true, _) | (false, Cipher::ChaCha20Poly1305) => 12,
            (false, Cipher::Aes128Gcm | Cipher::Aes256Gcm) => 4,
            (false, _) => 0,
        }
    }
    pub fn mac_key_len(&self) -> usize {
        self.mac.map_or(0, Hash::output_len)
    }
}

macro_rules! suites {
    ($($id:literal $name:literal $cipher:ident $mac:expr, $hash:ident, $tls13:literal;)*) => {
        const SUITES: &[Suite] = &[$(Suite {
            id: $id,
            name: $name,
            cipher: Cipher::$cipher,
            mac: $mac,
            hash: Hash::$hash,
            tls13: $tls13,
        },)*];
    };
}

suites! {
    0x1301 "TLS_AES_128_GCM_SHA256" Aes128Gcm None, Sha256, true;
    0x1302 "TLS_AES_256_GCM_SHA384" Aes256Gcm None, Sha384, true;
    0x1303 "TLS_CHACHA20_POLY1305_SHA256" ChaCha20Poly1305 None, Sha256, true;
    0x009c "TLS_RSA_WITH_AES_128_GCM_SHA256" Aes128Gcm None, Sha256, false;
    0x009d "TLS_RSA_WITH_AES_256_GCM_SHA384" Aes256Gcm None, Sha384, false;
    0x009e "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256" Aes128Gcm None, Sha256, false;
    0x009f "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384" Aes256Gcm None, Sha384, false;
    0xc02b "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" Aes128Gcm None, Sha256, false;
    0xc02c "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" Aes256Gcm None, Sha384, false;
    0xc02f "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" Aes128Gcm None, Sha256, false;
    0xc030 "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" Aes256Gcm None, Sha384, false;
    0xcca8 "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" ChaCha20Poly1305 None, Sha256, false;
    0xcca9 "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" ChaCha20Poly1305 None, Sha256, false;
    0xccaa "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256" ChaCha20Poly1305 None, Sha256, false;
    0x002f "TLS_RSA_WITH_AES_128_CBC_SHA" Aes128Cbc Some(Hash::Sha1), Sha256, false;
    0x0035 "TLS_RSA_WITH_AES_256_CBC_SHA" Aes256Cbc Some(Hash::Sha1), Sha256, false;
    0x003c "TLS_RSA_WITH_AES_128_CBC_SHA256" Aes128Cbc Some(Hash::Sha256), Sha256, false;
    0x003d "TLS_RSA_WITH_AES_256_CBC_SHA256" Aes256Cbc Some(Hash::Sha256), Sha256, false;
    0x0033 "TLS_DHE_RSA_WITH_AES_128_CBC_SHA" Aes128Cbc Some(Hash::Sha1), Sha256, false;
    0x0039 "TLS_DHE_RSA_WITH_AES_256_CBC_SHA" Aes256Cbc Some(Hash::Sha1), Sha256, false;
    0x0067 "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256" Aes128Cbc Some(Hash::Sha256), Sha256, false;
    0x006b "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256" Aes256Cbc Some(Hash::Sha256), Sha256, false;
    0xc009 "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA" Aes128Cbc Some(Hash::Sha1), Sha256, false;
    0xc00a "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA" Aes256Cbc Some(Hash::Sha1), Sha256, false;
    0xc013 "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" Aes128Cbc Some(Hash::Sha1), Sha256, false;
    0xc014 "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA" Aes256Cbc Some(Hash::Sha1), Sha256, false;
    0xc023 "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256" Aes128Cbc Some(Hash::Sha256), Sha256, false;
    0xc024 "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384" Aes256Cbc Some(Hash::Sha384), Sha384, false;
    0xc027 "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256" Aes128Cbc Some(Hash::Sha256), Sha256, false;
    0xc028 "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384" Aes256Cbc Some(Hash::Sha384), Sha384, false;
}

/// Common suites that cannot be decrypted here (CCM, 3DES, RC4, anything without a
/// CLIENT_RANDOM-based key schedule we implement), named for reports.
const OTHER_NAMES: &[(u16, &str)] = &[
    (0x0000, "TLS_NULL_WITH_NULL_NULL"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x00ff, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
    (0x1304, "TLS_AES_128_CCM_SHA256"),
    (0x1305, "TLS_AES_128_CCM_8_SHA256"),
    (0x5600, "TLS_FALLBACK_SCSV"),
    (0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
    (0xc0ad, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"),
];

/// The decryptable suite with this code point.
pub fn lookup(id: u16) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.id == id)
}

/// The IANA name of a suite, when it is one we know.
pub fn name(id: u16) -> Option<&'static str> {
    lookup(id)
        .map(|s| s.name)
        .or_else(|| OTHER_NAMES.iter().find(|(i, _)| *i == id).map(|(_, n)| *n))
}

/// A protocol version's name (`0x0304` → `TLS 1.3`), GREASE and unknown values as hex.
pub fn version_name(v: u16) -> Option<&'static str> {
    Some(match v {
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => return None,
    })
}

/// GREASE values (RFC 8701) appear in lists of versions, suites, groups and ALPN: to be ignored.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for s in SUITES {
            assert_eq!(s.tls13, s.id >> 8 == 0x13, "{}", s.name);
            assert_eq!(s.mac.is_some(), !s.cipher.is_aead(), "{}", s.name);
            assert_eq!(
                s.hash == Hash::Sha384,
                s.name.ends_with("SHA384"),
                "{}",
                s.name
            );
            assert_eq!(name(s.id), Some(s.name));
            assert!(lookup(s.id).is_some());
        }
        assert_eq!(name(0x1304), Some("TLS_AES_128_CCM_SHA256"));
        assert!(lookup(0x1304).is_none());
        assert_eq!(name(0x1234), None);
    }

    #[test]
    fn grease() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && is_grease(0x3a3a));
        assert!(!is_grease(0x0303) && !is_grease(0x0a1a) && !is_grease(0x1301));
    }
}
