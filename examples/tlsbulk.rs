//! Writes one bulk TLS connection as a pcap template for `bigcap` (benches/run.sh, the
//! `tls-bulk` shape), with its key log: a handshake, then a GET answered by SIZE_KIB of body
//! in full 16 KiB records, sent in 1448-byte segments, each acknowledged, as a download over
//! HTTPS is. The connection is built with the record layer's test kit (known secrets), so the
//! bytes are real TLS records of the suite named.
//!
//! `cargo run --release --example tlsbulk -- OUT.pcap OUT.keys SUITE_HEX SIZE_KIB`
//! (SUITE_HEX: 1301 TLS_AES_128_GCM_SHA256, 1303 ChaCha20, c02f TLS 1.2 ECDHE AES-128-GCM, …)

use anyhow::{Context, Result, bail};
use sockscope::proto::tls::testkit::Synth;
use sockscope::source::{LinkType, PcapWriter};
use sockscope::tcp::Dir;
use sockscope::time::Timestamp;
use std::path::Path;

const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 1], 40000);
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 80], 443);

/// An Ethernet / IPv4 / TCP packet (checksums left zero: nothing here verifies them).
fn packet(
    from: ([u8; 4], u16),
    to: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = Vec::with_capacity(54 + payload.len());
    p.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    p.extend_from_slice(&from.0);
    p.extend_from_slice(&to.0);
    p.extend_from_slice(&from.1.to_be_bytes());
    p.extend_from_slice(&to.1.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ack.to_be_bytes());
    p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend_from_slice(payload);
    p
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

struct Conn {
    w: PcapWriter,
    seq: [u32; 2],
    ts: Timestamp,
}

impl Conn {
    fn put(&mut self, dir: usize, flags: u8, payload: &[u8]) -> Result<()> {
        let (from, to) = if dir == 0 {
            (CLIENT, SERVER)
        } else {
            (SERVER, CLIENT)
        };
        let p = packet(from, to, self.seq[dir], self.seq[1 - dir], flags, payload);
        self.ts = Timestamp(self.ts.0 + 10_000);
        self.w.write_packet(self.ts, p.len() as u32, &p)?;
        self.seq[dir] = self.seq[dir].wrapping_add(payload.len() as u32);
        Ok(())
    }

    fn send(&mut self, dir: usize, bytes: &[u8]) -> Result<()> {
        for piece in bytes.chunks(1448) {
            self.put(dir, ACK | PSH, piece)?;
            self.put(1 - dir, ACK, b"")?;
        }
        Ok(())
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, keys, suite, kib] = &args[..] else {
        bail!("usage: tlsbulk OUT.pcap OUT.keys SUITE_HEX SIZE_KIB");
    };
    let suite = u16::from_str_radix(suite, 16).context("SUITE_HEX")?;
    let kib: usize = kib.parse().context("SIZE_KIB")?;
    let Some(synth) = Synth::new(suite, false, 1) else {
        bail!("suite {suite:04x} cannot be decrypted by sockscope");
    };
    std::fs::write(keys, synth.keylog()).with_context(|| format!("writing {keys}"))?;
    let w = PcapWriter::create(Path::new(out), LinkType::ETHERNET, 262_144)
        .with_context(|| format!("creating {out}"))?;
    let mut c = Conn {
        w,
        seq: [1000, 50_000],
        ts: Timestamp::from_secs_nanos(1_700_000_000, 0),
    };
    c.put(0, SYN, b"")?;
    c.seq[0] += 1;
    c.put(1, SYN | ACK, b"")?;
    c.seq[1] += 1;
    c.put(0, ACK, b"")?;
    for (dir, bytes) in synth.handshake() {
        c.send(dir.index(), &bytes)?;
    }
    // An HTTP/1.1 GET answered by SIZE_KIB of body (what runs inside with ALPN http/1.1;
    // with h2 the same bytes are counted), the response in full 16 KiB records.
    let first = synth.first_app_seq();
    let mut buf = Vec::new();
    synth.app_record(
        Dir::C2S,
        first,
        b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n",
        &mut buf,
    );
    c.send(0, &buf)?;
    let mut body = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", kib << 10).into_bytes();
    body.resize(body.len() + (kib << 10), b'x');
    for (seq, record) in (first..).zip(body.chunks(16 << 10)) {
        buf.clear();
        synth.app_record(Dir::S2C, seq, record, &mut buf);
        c.send(1, &buf)?;
    }
    c.put(1, FIN | ACK, b"")?;
    c.put(0, FIN | ACK, b"")?;
    c.w.flush()?;
    Ok(())
}
