//! Key schedules and record protection over well-kept crates (no cipher code here): ring for
//! the AEADs (measured 2.4–2.7× faster than RustCrypto's aes-gcm on AES-GCM and 2.1× on
//! ChaCha20-Poly1305 here: its assembly interleaves GHASH with AES-CTR, see benches/micro.rs),
//! RustCrypto for AES-CBC, HMAC and HKDF:
//! TLS 1.3 HKDF-Expand-Label key/IV derivation and KeyUpdate (RFC 8446 §7), the TLS 1.2 PRF key
//! block (RFC 5246 §6.3, §5), and opening (and, for tests and benchmarks, sealing) one record
//! of each protection style: TLS 1.3 AEAD, TLS 1.2 AES-GCM (RFC 5288, explicit nonce),
//! TLS 1.2 ChaCha20-Poly1305 (RFC 7905, XOR nonce) and TLS 1.1+/1.2 CBC-HMAC with an explicit IV,
//! MAC-then-encrypt or encrypt-then-MAC (RFC 7366).
//!
//! Promise: [`RecordKeys::open`] never panics on any input; it decrypts in place and allocates
//! nothing, except with `preserve`: then it works on a copy, so that the fragment is left as it
//! was on failure (ring zeroes what it could not authenticate) and a caller can try other
//! sequence numbers or keys on the same bytes.

use super::suite::{Cipher, Hash, Suite};
use aes::cipher::{self, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit};
use hmac::{Hmac, Mac};
use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use std::ops::Range;

/// A secret from the key log: a TLS 1.2 master secret (48 bytes) or a TLS 1.3 traffic secret
/// (32 or 48 bytes, the suite's hash length).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret {
    len: u8,
    bytes: [u8; 48],
}

impl Secret {
    /// `None` when longer than 48 bytes or empty.
    pub fn new(bytes: &[u8]) -> Option<Secret> {
        if bytes.is_empty() || bytes.len() > 48 {
            return None;
        }
        let mut s = Secret {
            len: bytes.len() as u8,
            bytes: [0; 48],
        };
        s.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(s)
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Secret {
    // Secrets stay out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.len)
    }
}

// ---------------------------------------------------------------------------------------------
// Key derivation

fn hmac_parts<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]], out: &mut [u8]) {
    // HMAC takes keys of any length; the Err branch cannot happen.
    let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
        return;
    };
    for p in parts {
        mac.update(p);
    }
    let tag = mac.finalize().into_bytes();
    let n = out.len().min(tag.len());
    out[..n].copy_from_slice(&tag[..n]);
}

fn hmac(hash: Hash, key: &[u8], parts: &[&[u8]], out: &mut [u8]) {
    match hash {
        Hash::Sha1 => hmac_parts::<Hmac<sha1::Sha1>>(key, parts, out),
        Hash::Sha256 => hmac_parts::<Hmac<sha2::Sha256>>(key, parts, out),
        Hash::Sha384 => hmac_parts::<Hmac<sha2::Sha384>>(key, parts, out),
    }
}

/// HKDF-Expand-Label(secret, label, context, out.len()) of RFC 8446 §7.1 (label without the
/// `tls13 ` prefix).
pub fn hkdf_expand_label(hash: Hash, secret: &[u8], label: &[u8], context: &[u8], out: &mut [u8]) {
    let full_label_len = 6 + label.len();
    let info_head = [
        (out.len() >> 8) as u8,
        out.len() as u8,
        full_label_len as u8,
    ];
    let info: [&[u8]; 5] = [
        &info_head,
        b"tls13 ",
        label,
        &[context.len() as u8],
        context,
    ];
    let done = match hash {
        Hash::Sha256 => hkdf::Hkdf::<sha2::Sha256>::from_prk(secret)
            .ok()
            .and_then(|h| h.expand_multi_info(&info, out).ok()),
        Hash::Sha384 => hkdf::Hkdf::<sha2::Sha384>::from_prk(secret)
            .ok()
            .and_then(|h| h.expand_multi_info(&info, out).ok()),
        Hash::Sha1 => None,
    };
    if done.is_none() {
        // Only a secret shorter than the hash gets here (a key log line for another suite):
        // the keys are then simply wrong, and records will not authenticate.
        out.fill(0);
    }
}

/// The next generation of a TLS 1.3 traffic secret (KeyUpdate, RFC 8446 §7.2).
pub fn next_traffic_secret(hash: Hash, secret: &Secret) -> Secret {
    let mut out = [0u8; 48];
    let n = hash.output_len();
    hkdf_expand_label(hash, secret.as_bytes(), b"traffic upd", &[], &mut out[..n]);
    Secret::new(&out[..n]).unwrap_or(*secret)
}

/// The TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label + seed) into `out`.
pub fn prf12(hash: Hash, secret: &[u8], label: &[u8], seed: &[&[u8]], out: &mut [u8]) {
    let h = hash.output_len();
    // A(1) = HMAC(secret, label + seed)
    let mut a = [0u8; 48];
    let mut parts: [&[u8]; 4] = [label, &[], &[], &[]];
    for (slot, s) in parts[1..].iter_mut().zip(seed) {
        *slot = s;
    }
    hmac(hash, secret, &parts, &mut a[..h]);
    let mut block = [0u8; 48];
    for chunk in out.chunks_mut(h) {
        let a_now = a;
        let with_seed: [&[u8]; 5] = [&a_now[..h], parts[0], parts[1], parts[2], parts[3]];
        hmac(hash, secret, &with_seed, &mut block[..h]);
        chunk.copy_from_slice(&block[..chunk.len()]);
        hmac(hash, secret, &[&a_now[..h]], &mut a[..h]);
    }
}

// ---------------------------------------------------------------------------------------------
// Record protection

/// How the per-record nonce and additional data are formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// TLS 1.3: nonce = IV xor seq; AAD = the record header; inner content type inside.
    Tls13,
    /// TLS 1.2 AES-GCM: nonce = 4-byte salt + 8-byte explicit nonce from the record.
    Tls12Gcm,
    /// TLS 1.2 ChaCha20-Poly1305: nonce = IV xor seq, nothing explicit.
    Tls12ChaCha,
    /// TLS 1.1/1.2 CBC with an explicit IV per record.
    Tls12Cbc { etm: bool },
}

enum Block {
    Aes128(Box<aes::Aes128>),
    Aes256(Box<aes::Aes256>),
}

enum MacKey {
    Sha1(Box<Hmac<sha1::Sha1>>),
    Sha256(Box<Hmac<sha2::Sha256>>),
    Sha384(Box<Hmac<sha2::Sha384>>),
}

enum Protection {
    Aead(Box<LessSafeKey>),
    Cbc { block: Block, mac: MacKey },
}

/// Keys for one direction of one epoch.
pub struct RecordKeys {
    protection: Protection,
    style: Style,
    iv: [u8; 12],
}

impl std::fmt::Debug for RecordKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordKeys({:?})", self.style)
    }
}

/// Where the plaintext of an opened record is, and what the protection cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The sequence number that authenticated.
    pub seq: u64,
    /// The plaintext inside the fragment (for TLS 1.3 still with the inner content type and
    /// padding, which the record layer strips).
    pub plaintext: Range<usize>,
    /// Explicit nonce / IV bytes in the record.
    pub explicit_iv: u16,
    /// AEAD tag or HMAC bytes.
    pub tag: u16,
    /// CBC padding bytes including the length byte.
    pub padding: u16,
}

/// Why a record did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Too short, or not a whole number of blocks, for this protection.
    Malformed,
    /// No tried sequence number authenticates (wrong key, corrupted record, or wrong sequence).
    Authentication,
}

fn new_aead(cipher: Cipher, key: &[u8]) -> Option<Box<LessSafeKey>> {
    let algorithm = match cipher {
        Cipher::Aes128Gcm => &ring::aead::AES_128_GCM,
        Cipher::Aes256Gcm => &ring::aead::AES_256_GCM,
        Cipher::ChaCha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
        Cipher::Aes128Cbc | Cipher::Aes256Cbc => return None,
    };
    Some(Box::new(LessSafeKey::new(
        UnboundKey::new(algorithm, key).ok()?,
    )))
}

const TAG: usize = 16;
const BLOCK: usize = 16;

impl RecordKeys {
    /// Keys of one direction from a TLS 1.3 traffic secret.
    pub fn tls13(suite: &Suite, secret: &Secret) -> Option<RecordKeys> {
        let mut key = [0u8; 32];
        let key = &mut key[..suite.cipher.key_len()];
        hkdf_expand_label(suite.hash, secret.as_bytes(), b"key", &[], key);
        let mut iv = [0u8; 12];
        hkdf_expand_label(suite.hash, secret.as_bytes(), b"iv", &[], &mut iv);
        Some(RecordKeys {
            protection: Protection::Aead(new_aead(suite.cipher, key)?),
            style: Style::Tls13,
            iv,
        })
    }

    /// Keys of both directions (client, server) from a TLS 1.2 master secret (RFC 5246 §6.3).
    pub fn tls12(
        suite: &Suite,
        master: &Secret,
        client_random: &[u8; 32],
        server_random: &[u8; 32],
        etm: bool,
    ) -> Option<(RecordKeys, RecordKeys)> {
        let mac_len = suite.mac_key_len();
        let key_len = suite.cipher.key_len();
        let iv_len = suite.fixed_iv_len();
        let mut block = [0u8; 2 * (48 + 32 + 12)];
        let need = 2 * (mac_len + key_len + iv_len);
        let kb = &mut block[..need];
        prf12(
            suite.hash,
            master.as_bytes(),
            b"key expansion",
            &[server_random, client_random],
            kb,
        );
        let (c_mac, rest) = kb.split_at(mac_len);
        let (s_mac, rest) = rest.split_at(mac_len);
        let (c_key, rest) = rest.split_at(key_len);
        let (s_key, rest) = rest.split_at(key_len);
        let (c_iv, s_iv) = rest.split_at(iv_len);
        let one = |mac: &[u8], key: &[u8], fixed_iv: &[u8]| -> Option<RecordKeys> {
            let mut iv = [0u8; 12];
            iv[..fixed_iv.len()].copy_from_slice(fixed_iv);
            let (protection, style) = match (suite.cipher, suite.mac) {
                (Cipher::Aes128Cbc | Cipher::Aes256Cbc, Some(h)) => {
                    let block = match suite.cipher {
                        Cipher::Aes128Cbc => {
                            Block::Aes128(Box::new(aes::Aes128::new_from_slice(key).ok()?))
                        }
                        _ => Block::Aes256(Box::new(aes::Aes256::new_from_slice(key).ok()?)),
                    };
                    let mac = match h {
                        Hash::Sha1 => MacKey::Sha1(Box::new(
                            <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(mac).ok()?,
                        )),
                        Hash::Sha256 => MacKey::Sha256(Box::new(
                            <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(mac).ok()?,
                        )),
                        Hash::Sha384 => MacKey::Sha384(Box::new(
                            <Hmac<sha2::Sha384> as KeyInit>::new_from_slice(mac).ok()?,
                        )),
                    };
                    (Protection::Cbc { block, mac }, Style::Tls12Cbc { etm })
                }
                (Cipher::ChaCha20Poly1305, _) => (
                    Protection::Aead(new_aead(suite.cipher, key)?),
                    Style::Tls12ChaCha,
                ),
                (c, _) => (Protection::Aead(new_aead(c, key)?), Style::Tls12Gcm),
            };
            Some(RecordKeys {
                protection,
                style,
                iv,
            })
        };
        Some((one(c_mac, c_key, c_iv)?, one(s_mac, s_key, s_iv)?))
    }

    /// Record bytes (after the 5-byte header) that the protection adds to the plaintext, when
    /// that is fixed: AEAD suites. For TLS 1.3 this counts the inner content type byte (and
    /// assumes no padding). `None` for CBC, whose padding varies.
    pub fn fixed_overhead(&self) -> Option<u64> {
        match self.style {
            Style::Tls13 => Some(TAG as u64 + 1),
            Style::Tls12Gcm => Some(8 + TAG as u64),
            Style::Tls12ChaCha => Some(TAG as u64),
            Style::Tls12Cbc { .. } => None,
        }
    }

    /// Is this TLS 1.3 protection (inner content type and padding)?
    pub fn is_tls13(&self) -> bool {
        self.style == Style::Tls13
    }

    fn xor_nonce(&self, seq: u64) -> [u8; 12] {
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }

    /// Opens the record whose header is `header` and whose fragment is `frag`, trying each
    /// sequence number of `seqs` in turn (one, normally; a window after a gap). On success
    /// the plaintext is decrypted in place. `preserve` keeps the fragment intact on failure for
    /// CBC too (at the cost of a copy), for trials on bytes that may not be a record at all.
    pub fn open(
        &self,
        seqs: Range<u64>,
        header: &[u8; 5],
        frag: &mut [u8],
        preserve: bool,
    ) -> Result<Opened, OpenError> {
        match &self.protection {
            Protection::Aead(key) => self.open_aead(key, seqs, header, frag, preserve),
            Protection::Cbc { block, mac } => {
                let Style::Tls12Cbc { etm } = self.style else {
                    return Err(OpenError::Malformed);
                };
                if etm {
                    open_cbc_etm(block, mac, seqs, header, frag)
                } else {
                    open_cbc_mte(block, mac, seqs, header, frag, preserve)
                }
            }
        }
    }

    fn nonce_and_aad(
        &self,
        seq: u64,
        header: &[u8; 5],
        explicit: &[u8],
        plain_len: usize,
    ) -> ([u8; 12], [u8; 13], usize) {
        let nonce = match self.style {
            Style::Tls12Gcm => {
                let mut n = self.iv;
                n[4..].copy_from_slice(explicit);
                n
            }
            _ => self.xor_nonce(seq),
        };
        let mut aad = [0u8; 13];
        if self.style == Style::Tls13 {
            aad[..5].copy_from_slice(header);
            return (nonce, aad, 5);
        }
        aad[..8].copy_from_slice(&seq.to_be_bytes());
        aad[8..11].copy_from_slice(&header[..3]);
        aad[11..].copy_from_slice(&(plain_len as u16).to_be_bytes());
        (nonce, aad, 13)
    }

    fn open_aead(
        &self,
        key: &LessSafeKey,
        seqs: Range<u64>,
        header: &[u8; 5],
        frag: &mut [u8],
        preserve: bool,
    ) -> Result<Opened, OpenError> {
        let explicit_len = if self.style == Style::Tls12Gcm { 8 } else { 0 };
        if frag.len() < explicit_len + TAG {
            return Err(OpenError::Malformed);
        }
        let ct_end = frag.len() - TAG;
        let tag = Tag::try_from(&frag[ct_end..]).map_err(|_| OpenError::Malformed)?;
        let mut explicit = [0u8; 8];
        explicit[..explicit_len].copy_from_slice(&frag[..explicit_len]);
        let plain_len = ct_end - explicit_len;
        // ring zeroes what does not authenticate: trials work on a copy.
        let mut scratch = if preserve {
            frag[explicit_len..ct_end].to_vec()
        } else {
            Vec::new()
        };
        for seq in seqs {
            let (nonce, aad, aad_len) =
                self.nonce_and_aad(seq, header, &explicit[..explicit_len], plain_len);
            let body: &mut [u8] = if preserve {
                scratch.copy_from_slice(&frag[explicit_len..ct_end]);
                &mut scratch
            } else {
                &mut frag[explicit_len..ct_end]
            };
            let ok = key.open_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad[..aad_len]),
                tag,
                body,
                0..,
            );
            if ok.is_ok() {
                if preserve {
                    frag[explicit_len..ct_end].copy_from_slice(&scratch);
                }
                return Ok(Opened {
                    seq,
                    plaintext: explicit_len..ct_end,
                    explicit_iv: explicit_len as u16,
                    tag: TAG as u16,
                    padding: 0,
                });
            }
            if !preserve {
                // The fragment is gone: no further sequence number can be tried.
                break;
            }
        }
        Err(OpenError::Authentication)
    }

    /// Builds a whole protected record (header included) into `out`: for tests, benchmarks
    /// and fuzzing. `content_type` is the TLS 1.3 inner type or the TLS 1.2 record type; CBC
    /// records get an IV derived from `seq` and minimal padding.
    pub fn seal(&self, seq: u64, content_type: u8, plaintext: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let outer = if self.style == Style::Tls13 {
            23
        } else {
            content_type
        };
        out.extend_from_slice(&[outer, 3, 3, 0, 0]);
        match &self.protection {
            Protection::Aead(key) => {
                let explicit = self.style == Style::Tls12Gcm;
                if explicit {
                    out.extend_from_slice(&seq.to_be_bytes());
                }
                let body_at = out.len();
                out.extend_from_slice(plaintext);
                if self.style == Style::Tls13 {
                    out.push(content_type);
                }
                let body_len = out.len() - body_at;
                let mut header = [outer, 3, 3, 0, 0];
                header[3..].copy_from_slice(&((out.len() - start - 5 + TAG) as u16).to_be_bytes());
                if self.style != Style::Tls13 {
                    header[0] = content_type;
                }
                let (nonce, aad, aad_len) =
                    self.nonce_and_aad(seq, &header, &seq.to_be_bytes(), body_len);
                let tag = key.seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(&aad[..aad_len]),
                    &mut out[body_at..],
                );
                if let Ok(tag) = tag {
                    out.extend_from_slice(tag.as_ref());
                }
            }
            Protection::Cbc { block, mac } => {
                let etm = matches!(self.style, Style::Tls12Cbc { etm: true });
                let mut iv = [0u8; BLOCK];
                iv[8..].copy_from_slice(&seq.to_be_bytes());
                iv[0] = 0xa5;
                out.extend_from_slice(&iv);
                let body_at = out.len();
                out.extend_from_slice(plaintext);
                let mut tag = [0u8; 48];
                let mac_len = mac.len();
                if !etm {
                    mac.compute(seq, content_type, plaintext, &[], &mut tag[..mac_len]);
                    out.extend_from_slice(&tag[..mac_len]);
                }
                let pad = BLOCK - 1 - (out.len() - body_at) % BLOCK;
                out.extend(std::iter::repeat_n(pad as u8, pad + 1));
                block.encrypt(&iv, &mut out[body_at..]);
                if etm {
                    let enc = out[body_at - BLOCK..].to_vec();
                    mac.compute(seq, content_type, &enc, &[], &mut tag[..mac_len]);
                    out.extend_from_slice(&tag[..mac_len]);
                }
            }
        }
        let len = (out.len() - start - 5) as u16;
        out[start + 3..start + 5].copy_from_slice(&len.to_be_bytes());
    }
}

impl Block {
    fn decrypt(&self, iv: &[u8; BLOCK], data: &mut [u8]) {
        let iv = cipher::Array::from(*iv);
        let (blocks, _) = cipher::InOutBuf::from(data).into_chunks();
        match self {
            Block::Aes128(c) => {
                cbc::Decryptor::inner_iv_init((**c).clone(), &iv).decrypt_blocks_inout(blocks)
            }
            Block::Aes256(c) => {
                cbc::Decryptor::inner_iv_init((**c).clone(), &iv).decrypt_blocks_inout(blocks)
            }
        }
    }
    fn encrypt(&self, iv: &[u8; BLOCK], data: &mut [u8]) {
        let iv = cipher::Array::from(*iv);
        let (blocks, _) = cipher::InOutBuf::from(data).into_chunks();
        match self {
            Block::Aes128(c) => {
                cbc::Encryptor::inner_iv_init((**c).clone(), &iv).encrypt_blocks_inout(blocks)
            }
            Block::Aes256(c) => {
                cbc::Encryptor::inner_iv_init((**c).clone(), &iv).encrypt_blocks_inout(blocks)
            }
        }
    }
}

impl MacKey {
    fn len(&self) -> usize {
        match self {
            MacKey::Sha1(_) => 20,
            MacKey::Sha256(_) => 32,
            MacKey::Sha384(_) => 48,
        }
    }

    /// HMAC(seq ‖ type ‖ version ‖ length ‖ a ‖ b) with length = |a| + |b| (RFC 5246 §6.2.3.1;
    /// for encrypt-then-MAC `a` is IV ‖ ciphertext, RFC 7366 §3).
    fn compute(&self, seq: u64, content_type: u8, a: &[u8], b: &[u8], out: &mut [u8]) {
        let mut head = [0u8; 13];
        head[..8].copy_from_slice(&seq.to_be_bytes());
        head[8..11].copy_from_slice(&[content_type, 3, 3]);
        head[11..].copy_from_slice(&((a.len() + b.len()) as u16).to_be_bytes());
        fn run<M: Mac + Clone>(m: &M, parts: [&[u8]; 3], out: &mut [u8]) {
            let mut m = m.clone();
            for p in parts {
                m.update(p);
            }
            let tag = m.finalize().into_bytes();
            let n = out.len().min(tag.len());
            out[..n].copy_from_slice(&tag[..n]);
        }
        match self {
            MacKey::Sha1(m) => run(&**m, [&head, a, b], out),
            MacKey::Sha256(m) => run(&**m, [&head, a, b], out),
            MacKey::Sha384(m) => run(&**m, [&head, a, b], out),
        }
    }

    fn find_seq(
        &self,
        seqs: Range<u64>,
        content_type: u8,
        a: &[u8],
        b: &[u8],
        expected: &[u8],
    ) -> Option<u64> {
        let mut tag = [0u8; 48];
        let tag = &mut tag[..self.len()];
        seqs.into_iter().find(|&seq| {
            self.compute(seq, content_type, a, b, tag);
            // A passive analyzer has no timing oracle to protect: plain comparison.
            tag == expected
        })
    }
}

/// The TLS padding at the end of a CBC plaintext: `n+1` bytes of value `n`.
fn cbc_padding(plain: &[u8]) -> Option<usize> {
    let n = usize::from(*plain.last()?);
    let pad = plain.get(plain.len().checked_sub(n + 1)?..)?;
    pad.iter().all(|&b| usize::from(b) == n).then_some(n + 1)
}

fn open_cbc_etm(
    block: &Block,
    mac: &MacKey,
    seqs: Range<u64>,
    header: &[u8; 5],
    frag: &mut [u8],
) -> Result<Opened, OpenError> {
    let mac_len = mac.len();
    if frag.len() < 2 * BLOCK + mac_len || !(frag.len() - mac_len).is_multiple_of(BLOCK) {
        return Err(OpenError::Malformed);
    }
    let enc_end = frag.len() - mac_len;
    let (enc, tag) = frag.split_at_mut(enc_end);
    let seq = mac
        .find_seq(seqs, header[0], enc, &[], tag)
        .ok_or(OpenError::Authentication)?;
    let (iv, body) = enc.split_at_mut(BLOCK);
    let iv: [u8; BLOCK] = iv.try_into().map_err(|_| OpenError::Malformed)?;
    block.decrypt(&iv, body);
    let padding = cbc_padding(body).ok_or(OpenError::Authentication)?;
    Ok(Opened {
        seq,
        plaintext: BLOCK..enc_end - padding,
        explicit_iv: BLOCK as u16,
        tag: mac_len as u16,
        padding: padding as u16,
    })
}

fn open_cbc_mte(
    block: &Block,
    mac: &MacKey,
    seqs: Range<u64>,
    header: &[u8; 5],
    frag: &mut [u8],
    preserve: bool,
) -> Result<Opened, OpenError> {
    if !preserve {
        return open_cbc_mte_in_place(block, mac, seqs, header, frag);
    }
    // Trials only (after a gap): the copy keeps the candidate's bytes for the next candidate.
    let mut scratch = frag.to_vec();
    let opened = open_cbc_mte_in_place(block, mac, seqs, header, &mut scratch)?;
    frag.copy_from_slice(&scratch);
    Ok(opened)
}

fn open_cbc_mte_in_place(
    block: &Block,
    mac: &MacKey,
    seqs: Range<u64>,
    header: &[u8; 5],
    frag: &mut [u8],
) -> Result<Opened, OpenError> {
    let mac_len = mac.len();
    if frag.len() < 2 * BLOCK || !frag.len().is_multiple_of(BLOCK) {
        return Err(OpenError::Malformed);
    }
    let (iv, body) = frag.split_at_mut(BLOCK);
    let iv: [u8; BLOCK] = (&*iv).try_into().map_err(|_| OpenError::Malformed)?;
    block.decrypt(&iv, body);
    let padding = cbc_padding(body).ok_or(OpenError::Authentication)?;
    let plain_end = body
        .len()
        .checked_sub(padding + mac_len)
        .ok_or(OpenError::Authentication)?;
    let (plain, rest) = body.split_at(plain_end);
    let seq = mac
        .find_seq(seqs, header[0], plain, &[], &rest[..mac_len])
        .ok_or(OpenError::Authentication)?;
    Ok(Opened {
        seq,
        plaintext: BLOCK..BLOCK + plain_end,
        explicit_iv: BLOCK as u16,
        tag: mac_len as u16,
        padding: padding as u16,
    })
}
