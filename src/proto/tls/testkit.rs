//! Synthetic TLS connections with known secrets, for tests, benchmarks and fuzzing: a minimal
//! but well-formed handshake (ClientHello, ServerHello, ChangeCipherSpec, Finished) for any
//! decryptable suite, then application data records sealed with the real record protection.
//! Nothing here is used by the analyzer itself.

use super::crypto::{RecordKeys, Secret};
use super::keylog::SessionSecrets;
use super::suite::{self, Suite};
use super::wire;
use crate::tcp::Dir;

/// One synthetic connection.
pub struct Synth {
    pub suite: &'static Suite,
    pub etm: bool,
    /// The ClientHello offers 0-RTT (TLS 1.3), and the key log has the early secret.
    pub early_data: bool,
    /// The protocol the server selects by ALPN (TLS 1.3 EncryptedExtensions, TLS 1.2
    /// ServerHello): `h2` for TLS 1.3 and `http/1.1` for TLS 1.2 unless set.
    pub alpn: Option<&'static [u8]>,
    pub client_random: [u8; 32],
    pub server_random: [u8; 32],
    secrets: SessionSecrets,
    client_hs: Option<RecordKeys>,
    server_hs: Option<RecordKeys>,
    client_app: RecordKeys,
    server_app: RecordKeys,
}

fn bytes(seed: u8, salt: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed.wrapping_mul(7) ^ salt)
        .collect()
}

fn secret(seed: u8, salt: u8, n: usize) -> Option<Secret> {
    Secret::new(&bytes(seed, salt, n))
}

fn handshake(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![msg_type];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    m
}

fn record(content_type: u8, version: u16, frag: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&(frag.len() as u16).to_be_bytes());
    r.extend_from_slice(frag);
    r
}

fn ext(t: u16, data: &[u8]) -> Vec<u8> {
    let mut e = t.to_be_bytes().to_vec();
    e.extend_from_slice(&(data.len() as u16).to_be_bytes());
    e.extend_from_slice(data);
    e
}

impl Synth {
    /// A connection using suite `suite_id` (TLS 1.3 for 0x13xx, else TLS 1.2), with
    /// encrypt-then-MAC negotiated if `etm` (CBC only). `None` for a suite not decryptable.
    pub fn new(suite_id: u16, etm: bool, seed: u8) -> Option<Synth> {
        let suite = suite::lookup(suite_id)?;
        let client_random: [u8; 32] = bytes(seed, 0x11, 32).try_into().ok()?;
        let server_random: [u8; 32] = bytes(seed, 0x22, 32).try_into().ok()?;
        let etm = etm && !suite.cipher.is_aead() && !suite.tls13;
        let mut secrets = SessionSecrets::default();
        let (client_hs, server_hs, client_app, server_app);
        if suite.tls13 {
            let n = suite.hash.output_len();
            secrets.client_handshake = secret(seed, 1, n);
            secrets.server_handshake = secret(seed, 2, n);
            secrets.client_traffic = secret(seed, 3, n);
            secrets.server_traffic = secret(seed, 4, n);
            secrets.client_early = secret(seed, 6, n);
            client_hs = RecordKeys::tls13(suite, secrets.client_handshake.as_ref()?);
            server_hs = RecordKeys::tls13(suite, secrets.server_handshake.as_ref()?);
            client_app = RecordKeys::tls13(suite, secrets.client_traffic.as_ref()?)?;
            server_app = RecordKeys::tls13(suite, secrets.server_traffic.as_ref()?)?;
        } else {
            let master = secret(seed, 5, 48)?;
            secrets.master = Some(master);
            let (c, s) = RecordKeys::tls12(suite, &master, &client_random, &server_random, etm)?;
            (client_hs, server_hs, client_app, server_app) = (None, None, c, s);
        }
        Some(Synth {
            suite,
            etm,
            early_data: false,
            alpn: None,
            client_random,
            server_random,
            secrets,
            client_hs,
            server_hs,
            client_app,
            server_app,
        })
    }

    /// The same connection with `alpn` selected by the server.
    pub fn with_alpn(mut self, alpn: &'static [u8]) -> Synth {
        self.alpn = Some(alpn);
        self
    }

    /// The ALPN extension selecting the server's protocol.
    fn alpn_selected(&self) -> Vec<u8> {
        let default: &[u8] = if self.suite.tls13 { b"h2" } else { b"http/1.1" };
        let proto = self.alpn.unwrap_or(default);
        let mut list = ((proto.len() + 1) as u16).to_be_bytes().to_vec();
        list.push(proto.len() as u8);
        list.extend_from_slice(proto);
        ext(16, &list)
    }

    pub fn secrets(&self) -> SessionSecrets {
        self.secrets
    }

    /// The key log lines for this connection.
    pub fn keylog(&self) -> String {
        let cr: String = self
            .client_random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let hex = |s: &Option<Secret>| -> String {
            s.map(|s| s.as_bytes().iter().map(|b| format!("{b:02x}")).collect())
                .unwrap_or_default()
        };
        let s = &self.secrets;
        if self.suite.tls13 {
            format!(
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET {cr} {}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {cr} {}\n\
                 CLIENT_TRAFFIC_SECRET_0 {cr} {}\nSERVER_TRAFFIC_SECRET_0 {cr} {}\n\
                 CLIENT_EARLY_TRAFFIC_SECRET {cr} {}\n",
                hex(&s.client_handshake),
                hex(&s.server_handshake),
                hex(&s.client_traffic),
                hex(&s.server_traffic),
                hex(&s.client_early)
            )
        } else {
            format!("CLIENT_RANDOM {cr} {}\n", hex(&s.master))
        }
    }

    fn client_hello(&self) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&self.client_random);
        body.push(0);
        body.extend_from_slice(&[0, 2]);
        body.extend_from_slice(&self.suite.id.to_be_bytes());
        body.extend_from_slice(&[1, 0]);
        let mut exts = ext(0, b"\x00\x0e\x00\x00\x0bexample.com");
        exts.extend(ext(16, b"\x00\x0c\x02h2\x08http/1.1"));
        if self.suite.tls13 {
            exts.extend(ext(43, &[2, 3, 4]));
            let mut ks = vec![0, 36, 0, 0x1d, 0, 32];
            ks.extend_from_slice(&[9; 32]);
            exts.extend(ext(51, &ks));
        }
        exts.extend(ext(22, &[]));
        if self.early_data {
            exts.extend(ext(42, &[]));
        }
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend(exts);
        record(wire::CONTENT_HANDSHAKE, 0x0301, &handshake(1, &body))
    }

    fn server_hello(&self) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&self.server_random);
        body.push(0);
        body.extend_from_slice(&self.suite.id.to_be_bytes());
        body.push(0);
        let mut exts = Vec::new();
        if self.suite.tls13 {
            exts.extend(ext(43, &[3, 4]));
            let mut ks = vec![0, 0x1d, 0, 32];
            ks.extend_from_slice(&[7; 32]);
            exts.extend(ext(51, &ks));
        } else {
            exts.extend(self.alpn_selected());
            if self.etm {
                exts.extend(ext(22, &[]));
            }
        }
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend(exts);
        record(wire::CONTENT_HANDSHAKE, 0x0303, &handshake(2, &body))
    }

    /// The handshake, as (direction, bytes) steps in the order they are sent. After it, the
    /// next application record of each direction has sequence number
    /// [`first_app_seq`](Self::first_app_seq).
    pub fn handshake(&self) -> Vec<(Dir, Vec<u8>)> {
        let finished = handshake(wire::HS_FINISHED, &[0x5a; 32]);
        let ccs = record(wire::CONTENT_CHANGE_CIPHER_SPEC, 0x0303, &[1]);
        let mut steps = vec![(Dir::C2S, self.client_hello())];
        if self.suite.tls13 {
            let mut s = self.server_hello();
            s.extend_from_slice(&ccs);
            let alpn = self.alpn_selected();
            let mut exts = (alpn.len() as u16).to_be_bytes().to_vec();
            exts.extend(alpn);
            let ee = handshake(wire::HS_ENCRYPTED_EXTENSIONS, &exts);
            if let Some(k) = &self.server_hs {
                k.seal(0, wire::CONTENT_HANDSHAKE, &ee, &mut s);
                k.seal(1, wire::CONTENT_HANDSHAKE, &finished, &mut s);
            }
            steps.push((Dir::S2C, s));
            let mut c = ccs.clone();
            if let Some(k) = &self.client_hs {
                k.seal(0, wire::CONTENT_HANDSHAKE, &finished, &mut c);
            }
            steps.push((Dir::C2S, c));
        } else {
            let mut s = self.server_hello();
            s.extend(record(wire::CONTENT_HANDSHAKE, 0x0303, &handshake(14, &[])));
            steps.push((Dir::S2C, s));
            let mut c = record(
                wire::CONTENT_HANDSHAKE,
                0x0303,
                &handshake(16, b"\x00\x20aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            );
            c.extend_from_slice(&ccs);
            self.client_app
                .seal(0, wire::CONTENT_HANDSHAKE, &finished, &mut c);
            steps.push((Dir::C2S, c));
            let mut s = ccs.clone();
            self.server_app
                .seal(0, wire::CONTENT_HANDSHAKE, &finished, &mut s);
            steps.push((Dir::S2C, s));
        }
        steps
    }

    /// Sequence number of the first application record in each direction.
    pub fn first_app_seq(&self) -> u64 {
        if self.suite.tls13 { 0 } else { 1 }
    }

    /// Appends an application data record.
    pub fn app_record(&self, dir: Dir, seq: u64, plaintext: &[u8], out: &mut Vec<u8>) {
        let keys = match dir {
            Dir::C2S => &self.client_app,
            Dir::S2C => &self.server_app,
        };
        keys.seal(seq, wire::CONTENT_APPLICATION_DATA, plaintext, out);
    }

    /// Appends an alert record under the application keys.
    pub fn alert_record(&self, dir: Dir, seq: u64, level: u8, description: u8, out: &mut Vec<u8>) {
        let keys = match dir {
            Dir::C2S => &self.client_app,
            Dir::S2C => &self.server_app,
        };
        keys.seal(seq, wire::CONTENT_ALERT, &[level, description], out);
    }

    /// Appends a record of `content_type` under the application keys.
    pub fn sealed_record(
        &self,
        dir: Dir,
        seq: u64,
        content_type: u8,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) {
        let keys = match dir {
            Dir::C2S => &self.client_app,
            Dir::S2C => &self.server_app,
        };
        keys.seal(seq, content_type, plaintext, out);
    }
}
