//! The TLS state machine of one connection: record framing per direction, handshake
//! reassembly, epochs and keys, decryption, loss recovery.
//!
//! Promise: no input panics; memory per connection is bounded ([`MAX_SCAN`] + one record +
//! [`MAX_HANDSHAKE`] per direction); a record is copied once (into the reused record buffer,
//! where it is decrypted in place) and nothing is allocated per record on the normal path.
//! After lost bytes the layer resynchronises on the next plausible record header confirmed by
//! decryption (which also recovers the sequence number: AEAD and HMAC authenticate it) or, with
//! no keys, by the following header; the plaintext lost in between is reported.

use super::TlsCode;
use super::crypto::{OpenError, Opened, RecordKeys, Secret, next_traffic_secret};
use super::keylog::SessionSecrets;
use super::suite::{self, Suite};
use super::wire::{self, ClientHello, RecordHeader, ServerHello};
use crate::tcp::Dir;

/// Largest handshake message reassembled (certificate chains are the big ones).
pub const MAX_HANDSHAKE: usize = 128 * 1024;
/// Bytes held while looking for a record header after a loss: room for a largest legal
/// record and the header after it.
pub const MAX_SCAN: usize = 2 * (RecordHeader::LEN + wire::MAX_CIPHERTEXT_12) + RecordHeader::LEN;
/// Most sequence numbers tried after a loss.
const MAX_TRIALS: u64 = 4096;

/// Which keys protect a direction's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epoch {
    /// Not protected yet.
    Plaintext,
    /// TLS 1.3 0-RTT data (client).
    Early,
    /// TLS 1.3 handshake traffic keys.
    Handshake,
    /// Application traffic keys; `generation` counts TLS 1.3 KeyUpdates (and TLS 1.2
    /// renegotiations).
    Application { generation: u32 },
}

/// The metadata of one record, reported after the record was processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    /// Record number in this direction, from 0.
    pub index: u64,
    /// Stream offset of the record's first byte in this direction (gaps counted).
    pub offset: u64,
    /// The outer content type.
    pub content_type: u8,
    /// The TLS 1.3 inner content type of a decrypted record.
    pub inner_type: Option<u8>,
    pub version: u16,
    /// Fragment length (after the 5-byte header).
    pub len: u16,
    pub epoch: Epoch,
    /// Sequence number within the epoch, for protected records (unknown after a loss without
    /// keys).
    pub seq: Option<u64>,
    /// Whether the fragment was decrypted (and authenticated).
    pub decrypted: bool,
    /// Plaintext bytes carried (the content, without inner type and padding), when known.
    pub plaintext_len: Option<u16>,
    /// Explicit nonce / IV bytes (TLS 1.2 GCM: 8, CBC: 16).
    pub explicit_iv: u16,
    /// AEAD tag or HMAC bytes.
    pub tag: u16,
    /// CBC padding (with its length byte) or TLS 1.3 zero padding.
    pub padding: u16,
    /// The TLS 1.3 inner content type byte (1) or 0.
    pub inner_type_bytes: u16,
}

/// What the ServerHello settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated<'a> {
    pub version: u16,
    pub cipher_suite: u16,
    /// A session resumed: TLS 1.2 session ID echoed, TLS 1.3 PSK accepted.
    pub resumed: bool,
    /// TLS 1.3 key exchange group.
    pub group: Option<u16>,
    /// ALPN chosen, when sent in the clear (TLS ≤ 1.2).
    pub alpn: Option<&'a [u8]>,
    pub encrypt_then_mac: bool,
    pub extended_master_secret: bool,
    /// The suite can be decrypted (given secrets).
    pub decryptable: bool,
}

/// Everything the TLS layer reports.
#[derive(Debug)]
pub enum TlsEvent<'a> {
    /// The fragment of a protected record about to be decrypted, as captured (decryption
    /// happens in place: whoever shows ciphertext copies it now). Precedes its `Record`.
    Ciphertext(&'a [u8]),
    /// A record was read (decrypted or not). Precedes the events of its contents.
    Record(RecordInfo),
    /// A ChangeCipherSpec record (TLS ≤ 1.2: from here on this direction is protected).
    ChangeCipherSpec,
    /// A complete handshake message: its type, body length, the index of the record where it
    /// starts, and whether it came encrypted.
    Handshake {
        msg_type: u8,
        len: u32,
        record: u64,
        encrypted: bool,
    },
    ClientHello(&'a ClientHello<'a>),
    ServerHello(&'a ServerHello<'a>),
    /// Version, suite and the rest, once per ServerHello (not for a HelloRetryRequest).
    Negotiated(Negotiated<'a>),
    /// The ALPN protocol selected in TLS 1.3 EncryptedExtensions (needs keys).
    AlpnSelected(&'a [u8]),
    /// The direction's keys changed: handshake → application, or a KeyUpdate.
    Epoch(Epoch),
    Alert {
        level: u8,
        description: u8,
        encrypted: bool,
    },
    /// Decrypted application data, in order.
    Plaintext(&'a [u8]),
    /// Application data that could not be delivered: records lost (TCP gap) or not
    /// decryptable. `bytes` is the plaintext missing when the suite's overhead is fixed (AEAD;
    /// for TLS 1.3 assuming no padding) and the number of records is known.
    PlaintextGap {
        bytes: Option<u64>,
        records: Option<u64>,
    },
    Anomaly {
        code: TlsCode,
        detail: String,
    },
}

/// Where [`TlsConn`] reports, and where it finds secrets.
pub trait TlsSink {
    fn event(&mut self, dir: Dir, event: TlsEvent<'_>);
    /// The secrets for the session with this client random, if known. Asked when a direction
    /// needs keys and has none, so secrets that appear later (a key log being appended to) are
    /// picked up.
    fn secrets(&mut self, client_random: &[u8; 32]) -> Option<SessionSecrets>;
}

/// What was lost before the next record boundary is found again.
#[derive(Clone, Copy, Debug, Default)]
struct Loss {
    /// Stream bytes lost since the end of the last whole record.
    bytes: u64,
    /// Bytes still to skip to reach the known next record boundary.
    skip: u64,
    /// No known boundary: looking for a header.
    scanning: bool,
}

#[derive(Debug)]
struct Side {
    /// The record being assembled (header + fragment); decrypted in place.
    rec: Vec<u8>,
    rec_start: u64,
    /// Bytes held while scanning for a header after a loss.
    scan: Vec<u8>,
    /// Handshake messages being reassembled.
    hs: Vec<u8>,
    hs_record: u64,
    /// Bytes of an over-long handshake message still to drop.
    hs_skip: u64,
    offset: u64,
    records: u64,
    epoch: Epoch,
    protected: bool,
    keys: Option<RecordKeys>,
    /// The TLS 1.3 traffic secret of the current epoch (for KeyUpdate).
    secret: Option<Secret>,
    seq: u64,
    seq_known: bool,
    /// Applied after the current record (TLS 1.3 Finished, KeyUpdate).
    pending_epoch: Option<Epoch>,
    loss: Option<Loss>,
    close_notify: bool,
    after_close_reported: bool,
    failures: u64,
    /// Next sequence number of TLS 1.3 early data.
    early_seq: u64,
    ended: bool,
    /// Record bytes and count, for the average used to order sequence trials.
    record_bytes: u64,
    /// Protected records held whole (header and fragment, as captured) while the session's
    /// secrets are missing, when holding is on ([`TlsConn::hold_while_keys_missing`]): read
    /// in order once the secrets appear, counted undecrypted when given up.
    waiting: Vec<u8>,
    /// Stream offset of the first record waiting.
    waiting_start: u64,
}

impl Side {
    fn new() -> Side {
        Side {
            rec: Vec::new(),
            rec_start: 0,
            scan: Vec::new(),
            hs: Vec::new(),
            hs_record: 0,
            hs_skip: 0,
            offset: 0,
            records: 0,
            epoch: Epoch::Plaintext,
            protected: false,
            keys: None,
            secret: None,
            seq: 0,
            seq_known: true,
            pending_epoch: None,
            loss: None,
            close_notify: false,
            after_close_reported: false,
            failures: 0,
            early_seq: 0,
            ended: false,
            record_bytes: 0,
            waiting: Vec::new(),
            waiting_start: 0,
        }
    }
}

/// Handshake state shared by both directions.
#[derive(Debug, Default)]
struct Session {
    client_random: Option<[u8; 32]>,
    server_random: Option<[u8; 32]>,
    client_session_id: Option<([u8; 32], u8)>,
    etm_offered: bool,
    early_data_offered: bool,
    version: Option<u16>,
    suite: Option<&'static Suite>,
    etm: bool,
    secrets: Option<SessionSecrets>,
    missing_reported: bool,
    /// TLS 1.2 keys derived at the first ChangeCipherSpec, the other side's kept for its own.
    tls12_keys: [Option<RecordKeys>; 2],
    established: bool,
    server_hello_seen: bool,
}

/// One TLS connection, both directions.
#[derive(Debug)]
pub struct TlsConn {
    sides: [Side; 2],
    session: Session,
    /// Bytes of records held per direction while secrets are missing (0: none are held).
    hold: usize,
    /// The missing-secrets anomaly, told only when held records are given up (the secrets
    /// may still come).
    missing_detail: Option<(Dir, String)>,
}

impl Default for TlsConn {
    fn default() -> Self {
        TlsConn::new()
    }
}

/// Is this TLS 1.3 (as negotiated)?
fn is13(version: Option<u16>) -> bool {
    version == Some(0x0304)
}

impl TlsConn {
    pub fn new() -> TlsConn {
        TlsConn {
            sides: [Side::new(), Side::new()],
            session: Session::default(),
            hold: 0,
            missing_detail: None,
        }
    }

    /// Holds up to `limit` bytes of protected records per direction while the session's
    /// secrets are missing (a key log being written while `live` runs, secrets carried later
    /// in the capture): they are decrypted in order once the secrets appear, or counted as
    /// not decrypted when the limit is reached, the direction ends, or
    /// [`give_way`](Self::give_way) is called.
    pub fn hold_while_keys_missing(&mut self, limit: usize) {
        self.hold = limit;
    }

    /// Counts every record held waiting for secrets as not decrypted (the memory budget ran
    /// short), reporting the missing secrets.
    fn give_up_waiting(&mut self, sink: &mut impl TlsSink) {
        for dir in [Dir::C2S, Dir::S2C] {
            self.flush_waiting(dir, false, sink);
            self.sides[dir.index()].waiting = Vec::new();
        }
        self.hold = 0;
    }

    /// Reads the records held waiting for secrets: decrypted if the secrets are known now
    /// (`try_keys`), else counted as not decrypted (and the missing secrets reported).
    fn flush_waiting(&mut self, dir: Dir, try_keys: bool, sink: &mut impl TlsSink) {
        let d = dir.index();
        if self.sides[d].waiting.is_empty() {
            return;
        }
        if try_keys && self.sides[d].keys.is_none() {
            self.ensure_keys(dir, sink);
        }
        let decrypt = self.sides[d].keys.is_some();
        if !decrypt {
            self.report_missing(sink);
        }
        let mut held = std::mem::take(&mut self.sides[d].waiting);
        let mut start = self.sides[d].waiting_start;
        let hold = std::mem::replace(&mut self.hold, 0);
        let mut at = 0;
        while let Some(h) = RecordHeader::parse(&held[at..]) {
            let end = at + RecordHeader::LEN + usize::from(h.len);
            if end > held.len() {
                break;
            }
            let frag = &mut held[at + RecordHeader::LEN..end];
            let _ = self.process_record(dir, h, frag, start, None, sink);
            start += (end - at) as u64;
            at = end;
        }
        self.hold = hold;
        held.clear();
        if self.sides[d].waiting.is_empty() {
            self.sides[d].waiting = held;
        }
    }

    /// Reports the session's missing secrets, once.
    fn report_missing(&mut self, sink: &mut impl TlsSink) {
        if let Some((dir, detail)) = self.missing_detail.take() {
            sink.event(dir, anomaly(TlsCode::TlsMissingSecrets, detail));
        }
    }

    /// The negotiated version, once the ServerHello was seen.
    pub fn version(&self) -> Option<u16> {
        self.session.version
    }

    /// The negotiated cipher suite, when decryptable.
    pub fn suite(&self) -> Option<&'static Suite> {
        self.session.suite
    }

    /// Bytes of the direction's stream seen so far (gaps included).
    pub fn offset(&self, dir: Dir) -> u64 {
        self.sides[dir.index()].offset
    }

    /// Bytes held in buffers (for the memory budget), all of which
    /// [`give_way`](Self::give_way) gives back: the record being assembled, a handshake
    /// message being reassembled, the bytes scanned after a loss, the records held for
    /// missing secrets (each buffer's allocation).
    pub fn held_bytes(&self) -> usize {
        self.sides
            .iter()
            .map(|s| s.rec.capacity() + s.scan.capacity() + s.hs.capacity() + s.waiting.capacity())
            .sum()
    }

    /// The next bytes of one direction.
    pub fn feed(&mut self, dir: Dir, mut data: &[u8], sink: &mut impl TlsSink) {
        let d = dir.index();
        while !data.is_empty() {
            let side = &mut self.sides[d];
            if let Some(loss) = side.loss.as_mut()
                && loss.skip > 0
            {
                let n = loss.skip.min(data.len() as u64);
                loss.skip -= n;
                side.offset += n;
                data = &data[n as usize..];
                if loss.skip == 0 && !loss.scanning {
                    // The lost record's end: the next one starts here.
                    side.loss = None;
                }
                continue;
            }
            if side.loss.is_some_and(|l| l.scanning) {
                let room = MAX_SCAN.saturating_sub(side.scan.len()).max(1);
                let n = room.min(data.len());
                side.scan.extend_from_slice(&data[..n]);
                side.offset += n as u64;
                data = &data[n..];
                self.scan(dir, false, sink);
                continue;
            }
            if side.rec.is_empty() {
                side.rec_start = side.offset;
            }
            let need = match RecordHeader::parse(&side.rec) {
                None => RecordHeader::LEN - side.rec.len(),
                Some(h) => RecordHeader::LEN + usize::from(h.len) - side.rec.len(),
            };
            let n = need.min(data.len());
            side.rec.extend_from_slice(&data[..n]);
            side.offset += n as u64;
            data = &data[n..];
            let Some(h) = RecordHeader::parse(&side.rec) else {
                continue;
            };
            if side.rec.len() == RecordHeader::LEN && !framing_header(&h) {
                let start = side.rec_start;
                sink.event(dir, bad_header(&h, start));
                // Look for a header from the byte after this one.
                let side = &mut self.sides[d];
                side.scan.clear();
                side.scan.extend_from_slice(&side.rec[1..]);
                side.rec.clear();
                side.loss = Some(Loss {
                    bytes: 1,
                    skip: 0,
                    scanning: true,
                });
                self.scan(dir, false, sink);
                continue;
            }
            if side.rec.len() == RecordHeader::LEN + usize::from(h.len) {
                let mut rec = std::mem::take(&mut side.rec);
                let start = side.rec_start;
                let _ =
                    self.process_record(dir, h, &mut rec[RecordHeader::LEN..], start, None, sink);
                rec.clear();
                self.sides[d].rec = rec;
            }
        }
    }

    /// `len` bytes of the direction were lost (a TCP gap) before the next [`feed`](Self::feed).
    pub fn gap(&mut self, dir: Dir, len: u64, sink: &mut impl TlsSink) {
        if len == 0 || self.sides[dir.index()].ended {
            return;
        }
        self.lose(dir, len, sink);
    }

    /// The memory budget ran short: gives up everything held beyond what framing needs. A
    /// record being assembled is lost as if the rest of it went missing (framing skips to its
    /// end, its plaintext reported lost), a handshake message being reassembled is lost with
    /// it (as after a gap), bytes scanned for a header after a loss are lost too (scanning
    /// starts afresh), and records held for missing secrets are counted as not decrypted.
    /// Each direction that lost bytes reports `tls.budget`; the buffers are freed.
    pub fn give_way(&mut self, sink: &mut impl TlsSink) {
        for dir in [Dir::C2S, Dir::S2C] {
            let d = dir.index();
            let side = &self.sides[d];
            let (record, handshake, scanned, waiting) = (
                side.rec.len(),
                side.hs.len(),
                side.scan.len(),
                side.waiting.len(),
            );
            if record + handshake + scanned + waiting > 0 && !side.ended {
                let mut parts = Vec::new();
                for (n, what) in [
                    (record, "of a record being assembled"),
                    (handshake, "of a handshake message being reassembled"),
                    (
                        scanned,
                        "held while looking for a record header after a loss",
                    ),
                    (waiting, "of records held for missing secrets"),
                ] {
                    if n > 0 {
                        parts.push(format!("{n} bytes {what}"));
                    }
                }
                sink.event(
                    dir,
                    anomaly(
                        TlsCode::TlsBudget,
                        format!("memory budget: {} given up", parts.join(", ")),
                    ),
                );
                // Between records, the rest of the message is known: skipped exactly. Inside
                // a record, that record's part of it is not, as after a gap.
                let rest = wire::handshake_header(&self.sides[d].hs)
                    .filter(|_| record < RecordHeader::LEN)
                    .map(|(_, len)| (4 + len).saturating_sub(handshake) as u64);
                if record + scanned > 0 {
                    self.lose(dir, 0, sink);
                }
                self.sides[d].hs.clear();
                if let Some(rest) = rest {
                    self.sides[d].hs_skip = rest;
                }
            }
            let side = &mut self.sides[d];
            side.rec = Vec::new();
            side.hs = Vec::new();
            side.scan = Vec::new();
        }
        self.give_up_waiting(sink);
    }

    /// `len` bytes lost after what the direction holds (0: only what it holds is lost).
    fn lose(&mut self, dir: Dir, len: u64, sink: &mut impl TlsSink) {
        let d = dir.index();
        let side = &mut self.sides[d];
        side.offset += len;
        // A handshake message in progress cannot be completed.
        side.hs.clear();
        side.hs_skip = 0;
        if let Some(loss) = side.loss.as_mut() {
            if loss.scanning {
                // Bytes held for scanning cannot start a record that survives the gap whole:
                // they are lost too, and scanning starts afresh after the gap.
                loss.bytes += len + side.scan.len() as u64;
                side.scan.clear();
            } else if loss.skip > len {
                loss.skip -= len;
            } else {
                // The lost record (already reported) ended inside this gap; what follows
                // its end is lost without a known boundary.
                *loss = Loss {
                    bytes: len - loss.skip,
                    skip: 0,
                    scanning: true,
                };
            }
            return;
        }
        let held = side.rec.len() as u64;
        let header = RecordHeader::parse(&side.rec);
        side.rec.clear();
        let body_held = held.saturating_sub(RecordHeader::LEN as u64);
        match header {
            Some(h) if body_held + len <= u64::from(h.len) => {
                // The gap ends inside the record whose length we know: skip to its end.
                // Exactly one record lost; its plaintext known for fixed-overhead suites.
                let remaining = u64::from(h.len) - body_held - len;
                side.loss = (remaining > 0).then_some(Loss {
                    bytes: 0,
                    skip: remaining,
                    scanning: false,
                });
                side.records += 1;
                side.seq += 1;
                if side.protected && side.keys.is_some() {
                    let overhead = side.keys.as_ref().and_then(RecordKeys::fixed_overhead);
                    sink.event(dir, gap_of_one(overhead, h.len));
                }
            }
            _ => {
                side.loss = Some(Loss {
                    bytes: held + len,
                    skip: 0,
                    scanning: true,
                });
            }
        }
    }

    /// The direction's stream ended (FIN, RST or end of capture).
    pub fn end(&mut self, dir: Dir, sink: &mut impl TlsSink) {
        let d = dir.index();
        if self.sides[d].ended {
            return;
        }
        self.flush_waiting(dir, true, sink);
        if self.sides[d].loss.is_some_and(|l| l.scanning) {
            self.scan(dir, true, sink);
        }
        let side = &mut self.sides[d];
        side.ended = true;
        let decrypting = side.protected && side.keys.is_some();
        if !side.rec.is_empty() {
            let want = RecordHeader::parse(&side.rec).map_or(RecordHeader::LEN, |h| {
                RecordHeader::LEN + usize::from(h.len)
            });
            let detail = format!(
                "stream ended {} bytes into a record of {} (at stream offset {})",
                side.rec.len(),
                want,
                side.rec_start
            );
            side.rec.clear();
            sink.event(dir, anomaly(TlsCode::TlsTruncatedRecord, detail));
            if decrypting {
                sink.event(
                    dir,
                    TlsEvent::PlaintextGap {
                        bytes: None,
                        records: Some(1),
                    },
                );
            }
        }
        let side = &mut self.sides[d];
        if side.loss.take().is_some_and(|l| l.scanning) && decrypting {
            sink.event(
                dir,
                TlsEvent::PlaintextGap {
                    bytes: None,
                    records: None,
                },
            );
        }
        let side = &mut self.sides[d];
        side.scan = Vec::new();
        side.hs = Vec::new();
        side.rec = Vec::new();
    }

    /// The connection is done: both directions end.
    pub fn finish(&mut self, sink: &mut impl TlsSink) {
        self.end(Dir::C2S, sink);
        self.end(Dir::S2C, sink);
        // Secrets still missing at the end, with nothing held for them: said now.
        self.report_missing(sink);
    }

    fn max_fragment(&self, d: usize) -> usize {
        if self.sides[d].protected {
            if is13(self.session.version) {
                wire::MAX_CIPHERTEXT_13
            } else {
                wire::MAX_CIPHERTEXT_12
            }
        } else {
            wire::MAX_PLAINTEXT
        }
    }

    /// Could a header found while scanning start a record here?
    fn scan_candidate(&self, d: usize, h: &RecordHeader) -> bool {
        if !h.plausible(self.max_fragment(d).max(wire::MAX_PLAINTEXT)) {
            return false;
        }
        // Once the ServerHello settled the version, records carry 0x0303 (TLS 1.2 and 1.3).
        match self.session.version {
            Some(v) if v >= 0x0303 => h.version == 0x0303,
            Some(v) => h.version == v,
            None => true,
        }
    }

    /// Looks for a record boundary in the bytes held after a loss; once found, frames the
    /// records that follow in the same bytes, and hands an unfinished last record to ordinary
    /// framing. `at_end`: nothing more will come, so a last candidate that fills the held
    /// bytes exactly needs no following header.
    fn scan(&mut self, dir: Dir, at_end: bool, sink: &mut impl TlsSink) {
        let d = dir.index();
        let mut buf = std::mem::take(&mut self.sides[d].scan);
        let mut pos = 0usize;
        let mut framed = false;
        let held_end = self.sides[d].offset;
        let offset_of = |p: usize, len: usize| held_end - (len - p) as u64;
        while pos + RecordHeader::LEN <= buf.len() {
            let Some(h) = RecordHeader::parse(&buf[pos..]) else {
                break;
            };
            let end = pos + RecordHeader::LEN + usize::from(h.len);
            if framed {
                if !framing_header(&h) {
                    sink.event(dir, bad_header(&h, offset_of(pos, buf.len())));
                    framed = false;
                    self.sides[d].loss = Some(Loss {
                        bytes: 1,
                        skip: 0,
                        scanning: true,
                    });
                    pos += 1;
                    continue;
                }
                if end > buf.len() {
                    break;
                }
                let start = offset_of(pos, buf.len());
                let frag = &mut buf[pos + RecordHeader::LEN..end];
                let _ = self.process_record(dir, h, frag, start, None, sink);
                pos = end;
                continue;
            }
            let accepted = if !self.scan_candidate(d, &h) {
                false
            } else if self.decryptable_now(d, &h) {
                if buf.len() < end {
                    break;
                }
                let lost = self.sides[d].loss.map_or(0, |l| l.bytes);
                let start = offset_of(pos, buf.len());
                let frag = &mut buf[pos + RecordHeader::LEN..end];
                self.process_record(dir, h, frag, start, Some(lost), sink)
                    .is_ok()
            } else {
                // No keys to confirm with: the next header must be plausible too.
                let next = RecordHeader::parse(buf.get(end..).unwrap_or_default());
                let confirmed = match next {
                    Some(next) => self.scan_candidate(d, &next),
                    None if at_end => buf.len() == end,
                    None => break,
                };
                if confirmed {
                    let side = &mut self.sides[d];
                    let lost = side.loss.map_or(0, |l| l.bytes);
                    if side.protected {
                        side.seq_known = false;
                    }
                    sink.event(
                        dir,
                        anomaly(
                            TlsCode::TlsResync,
                            format!(
                                "record framing found again after {lost} lost bytes \
                                 (confirmed by the next header)"
                            ),
                        ),
                    );
                    if side.protected && side.keys.is_some() {
                        sink.event(
                            dir,
                            TlsEvent::PlaintextGap {
                                bytes: None,
                                records: None,
                            },
                        );
                    }
                    let start = offset_of(pos, buf.len());
                    let frag = &mut buf[pos + RecordHeader::LEN..end];
                    let _ = self.process_record(dir, h, frag, start, None, sink);
                }
                confirmed
            };
            if accepted {
                framed = true;
                self.sides[d].loss = None;
                pos = end;
            } else {
                if let Some(l) = self.sides[d].loss.as_mut() {
                    l.bytes += 1;
                }
                pos += 1;
            }
        }
        let len = buf.len();
        let side = &mut self.sides[d];
        if framed {
            // An unfinished record continues in ordinary framing.
            side.rec.clear();
            side.rec.extend_from_slice(&buf[pos..]);
            side.rec_start = offset_of(pos, len);
            buf.clear();
        } else {
            buf.drain(..pos);
            if at_end {
                if let Some(l) = side.loss.as_mut() {
                    l.bytes += buf.len() as u64;
                }
                buf.clear();
            }
        }
        side.scan = buf;
    }

    /// Would a record with this header be decrypted now (so decryption can confirm it)?
    fn decryptable_now(&self, d: usize, h: &RecordHeader) -> bool {
        let side = &self.sides[d];
        side.protected
            && side.keys.is_some()
            && (h.content_type == wire::CONTENT_APPLICATION_DATA || !is13(self.session.version))
    }

    /// Processes one whole record. `trial`: after a loss, the bytes lost since the last record
    /// (sequence numbers and keys are then searched, and a record that does not open is
    /// refused with `Err` so that scanning goes on).
    fn process_record(
        &mut self,
        dir: Dir,
        h: RecordHeader,
        frag: &mut [u8],
        start: u64,
        trial: Option<u64>,
        sink: &mut impl TlsSink,
    ) -> Result<(), ()> {
        let d = dir.index();
        let tls13 = is13(self.session.version);
        let limit = self.max_fragment(d);
        let side = &mut self.sides[d];
        let mut info = RecordInfo {
            index: side.records,
            offset: start,
            content_type: h.content_type,
            inner_type: None,
            version: h.version,
            len: h.len,
            epoch: side.epoch,
            seq: None,
            decrypted: false,
            plaintext_len: None,
            explicit_iv: 0,
            tag: 0,
            padding: 0,
            inner_type_bytes: 0,
        };
        let plain_in_protected = side.protected
            && tls13
            && ((h.content_type == wire::CONTENT_CHANGE_CIPHER_SPEC && h.len == 1)
                || (h.content_type == wire::CONTENT_ALERT && h.len == 2));
        if !side.protected || plain_in_protected {
            if trial.is_some() {
                return Err(());
            }
            side.records += 1;
            side.record_bytes += u64::from(h.len) + 5;
            info.plaintext_len = Some(h.len);
            sink.event(dir, TlsEvent::Record(info));
            if usize::from(h.len) > limit {
                sink.event(dir, too_large(&info, limit));
            }
            self.after_close_check(d, dir, h.content_type, sink);
            self.content(dir, h.content_type, &*frag, false, info.index, sink);
            self.apply_pending_epoch(dir, sink);
            return Ok(());
        }
        if side.keys.is_none() {
            self.ensure_keys(dir, sink);
            if self.sides[d].keys.is_some() && !self.sides[d].waiting.is_empty() {
                // The secrets came: what waited for them is read first, in order.
                self.flush_waiting(dir, false, sink);
            }
        }
        // Held only while the sequence number is known: after a loss without keys it is not,
        // and what was held could not be decrypted in order.
        let waits = self.hold > 0
            && trial.is_none()
            && self.sides[d].seq_known
            && self.session.suite.is_some()
            && self.session.version.is_some_and(|v| v >= 0x0303);
        let side = &mut self.sides[d];
        if waits && side.keys.is_none() {
            let len = RecordHeader::LEN + frag.len();
            if side.waiting.len() + len <= self.hold {
                if side.waiting.is_empty() {
                    side.waiting_start = start;
                }
                side.waiting.extend_from_slice(&h.bytes());
                side.waiting.extend_from_slice(frag);
                return Ok(());
            }
            // Too much to hold: what waited is counted as it would have been, then this.
            self.flush_waiting(dir, false, sink);
            self.report_missing(sink);
        }
        let side = &mut self.sides[d];
        let Some(keys) = side.keys.as_ref() else {
            if trial.is_some() {
                return Err(());
            }
            side.records += 1;
            side.record_bytes += u64::from(h.len) + 5;
            // TLS 1.3 hides where the handshake epoch ends: without keys, only TLS 1.2's
            // sequence numbers are known.
            info.seq = (side.seq_known && !tls13).then_some(side.seq);
            side.seq += 1;
            sink.event(dir, TlsEvent::Record(info));
            if usize::from(h.len) > limit {
                sink.event(dir, too_large(&info, limit));
            }
            return Ok(());
        };
        if trial.is_none() {
            sink.event(dir, TlsEvent::Ciphertext(&*frag));
        }
        let header = h.bytes();
        // Until the first handshake record opens, a client that offered 0-RTT may be sending
        // early data: try on a copy, so that the early keys can have the record after.
        let early_possible = tls13
            && d == Dir::C2S.index()
            && self.session.early_data_offered
            && side.epoch == Epoch::Handshake
            && side.seq == 0;
        let opened = match trial {
            None => keys.open(side.seq..side.seq + 1, &header, frag, early_possible),
            Some(lost) => {
                let found = self.trial_open(dir, &header, frag, lost);
                match found {
                    Some((opened, records)) => {
                        let side = &mut self.sides[d];
                        let overhead = side.keys.as_ref().and_then(RecordKeys::fixed_overhead);
                        let bytes = records.zip(overhead).and_then(|(r, o)| {
                            lost.checked_sub(r * (o + RecordHeader::LEN as u64))
                        });
                        sink.event(
                            dir,
                            anomaly(
                                TlsCode::TlsResync,
                                format!(
                                    "record layer resynchronised after {lost} lost bytes; \
                                     sequence number {} recovered by decryption",
                                    opened.seq
                                ),
                            ),
                        );
                        sink.event(dir, TlsEvent::PlaintextGap { bytes, records });
                        Ok(opened)
                    }
                    None => return Err(()),
                }
            }
        };
        let side = &mut self.sides[d];
        info.epoch = side.epoch;
        side.records += 1;
        side.record_bytes += u64::from(h.len) + 5;
        match opened {
            Ok(o) => {
                side.seq = o.seq + 1;
                side.seq_known = true;
                let tls13_keys = side.keys.as_ref().is_some_and(RecordKeys::is_tls13);
                self.deliver(dir, info, h, frag, o, tls13_keys, limit, sink);
            }
            Err(_) if early_possible => self.early_data(dir, info, h, frag, limit, sink),
            Err(e) => {
                info.seq = side.seq_known.then_some(side.seq);
                side.seq += 1;
                side.failures += 1;
                let first = side.failures == 1;
                let overhead = side.keys.as_ref().and_then(RecordKeys::fixed_overhead);
                sink.event(dir, TlsEvent::Record(info));
                if usize::from(h.len) > limit {
                    sink.event(dir, too_large(&info, limit));
                }
                if first {
                    let why = match e {
                        OpenError::Malformed => "is too short or misaligned for the cipher",
                        OpenError::Authentication => {
                            "does not authenticate: wrong key or corrupted record"
                        }
                    };
                    sink.event(
                        dir,
                        anomaly(
                            TlsCode::TlsDecryptFailed,
                            format!(
                                "record #{} ({} bytes, sequence {}) {why}; later failures in \
                                 this direction are not reported again",
                                info.index,
                                h.len,
                                info.seq.map_or("unknown".into(), |s| s.to_string())
                            ),
                        ),
                    );
                }
                sink.event(dir, gap_of_one(overhead, h.len));
            }
        }
        Ok(())
    }

    /// Reports an opened record (TLS 1.3: inner content type and padding stripped) and hands
    /// its content on.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        dir: Dir,
        mut info: RecordInfo,
        h: RecordHeader,
        frag: &[u8],
        o: Opened,
        tls13_keys: bool,
        limit: usize,
        sink: &mut impl TlsSink,
    ) {
        info.seq = Some(o.seq);
        info.decrypted = true;
        info.explicit_iv = o.explicit_iv;
        info.tag = o.tag;
        info.padding = o.padding;
        let plain = &frag[o.plaintext.clone()];
        let (content_type, content) = if tls13_keys {
            let Some(p) = plain.iter().rposition(|&b| b != 0) else {
                sink.event(dir, TlsEvent::Record(info));
                let detail = format!(
                    "record #{} decrypts to padding only (no content type)",
                    info.index
                );
                sink.event(dir, anomaly(TlsCode::TlsBadRecord, detail));
                return;
            };
            info.inner_type = Some(plain[p]);
            info.inner_type_bytes = 1;
            info.padding = (plain.len() - p - 1) as u16;
            (plain[p], o.plaintext.start..o.plaintext.start + p)
        } else {
            (h.content_type, o.plaintext.clone())
        };
        info.plaintext_len = Some(content.len() as u16);
        sink.event(dir, TlsEvent::Record(info));
        if content.len() > wire::MAX_PLAINTEXT || usize::from(h.len) > limit {
            sink.event(dir, too_large(&info, limit));
        }
        self.after_close_check(dir.index(), dir, content_type, sink);
        self.content(dir, content_type, &frag[content], true, info.index, sink);
        self.apply_pending_epoch(dir, sink);
    }

    /// A client record that did not open under the handshake keys before any did, in a
    /// session that offered 0-RTT: early data, under `CLIENT_EARLY_TRAFFIC_SECRET` and its own
    /// sequence numbers (RFC 8446 §2.3). Decrypted when the key log has that secret; counted
    /// (without an anomaly) when not.
    fn early_data(
        &mut self,
        dir: Dir,
        mut info: RecordInfo,
        h: RecordHeader,
        frag: &mut [u8],
        limit: usize,
        sink: &mut impl TlsSink,
    ) {
        let d = dir.index();
        // The failed trial used a copy: the record is intact, and the handshake epoch's
        // sequence number was not spent.
        let side = &mut self.sides[d];
        let seq = side.early_seq;
        side.early_seq += 1;
        info.epoch = Epoch::Early;
        let secret = self.session.secrets.and_then(|s| s.client_early);
        let keys = self
            .session
            .suite
            .zip(secret)
            .and_then(|(suite, secret)| RecordKeys::tls13(suite, &secret));
        match keys.map(|k| k.open(seq..seq + 1, &h.bytes(), frag, false)) {
            Some(Ok(o)) => self.deliver(dir, info, h, frag, o, true, limit, sink),
            _ => {
                info.seq = Some(seq);
                sink.event(dir, TlsEvent::Record(info));
                sink.event(dir, gap_of_one(Some(17), h.len));
            }
        }
    }

    /// After a loss: finds the sequence number (and, for TLS 1.3, the keys: the loss may have
    /// swallowed a Finished or a KeyUpdate) under which this candidate record opens. Returns
    /// the opened record and, when the keys stayed the same, how many records were lost.
    fn trial_open(
        &mut self,
        dir: Dir,
        header: &[u8; 5],
        frag: &mut [u8],
        lost_bytes: u64,
    ) -> Option<(Opened, Option<u64>)> {
        let d = dir.index();
        let side = &self.sides[d];
        let keys = side.keys.as_ref()?;
        let min_record = RecordHeader::LEN as u64 + keys.fixed_overhead().unwrap_or(32);
        let window = (lost_bytes / min_record + 1).min(MAX_TRIALS);
        let base = side.seq;
        // Most likely first: as many records lost as the average record size suggests; for
        // TLS 1.2 GCM the explicit nonce, which most stacks set to the sequence number.
        let avg = side
            .record_bytes
            .checked_div(side.records)
            .unwrap_or(0)
            .max(1);
        let guess = base + lost_bytes / avg;
        let mut firsts = [guess, base, u64::MAX];
        if frag.len() >= 8 && keys.fixed_overhead() == Some(24) {
            firsts[2] = u64::from_be_bytes(frag[..8].try_into().ok()?);
        }
        let in_window = |s: u64| s >= base && s < base + window;
        let mut opened = None;
        for s in firsts.into_iter().filter(|&s| in_window(s)) {
            if let Ok(o) = keys.open(s..s + 1, header, frag, true) {
                opened = Some(o);
                break;
            }
        }
        if opened.is_none() {
            opened = keys.open(base..base + window, header, frag, true).ok();
        }
        if let Some(o) = opened {
            let lost = o.seq - base;
            return Some((o, Some(lost)));
        }
        // TLS 1.3: the next keys (handshake → application, or a lost KeyUpdate).
        let suite = self.session.suite?;
        if !suite.tls13 {
            return None;
        }
        let (secret, epoch) = match side.epoch {
            Epoch::Handshake => {
                let s = self.session.secrets?;
                let secret = if d == Dir::C2S.index() {
                    s.client_traffic
                } else {
                    s.server_traffic
                }?;
                (secret, Epoch::Application { generation: 0 })
            }
            Epoch::Application { generation } => (
                next_traffic_secret(suite.hash, side.secret.as_ref()?),
                Epoch::Application {
                    generation: generation + 1,
                },
            ),
            _ => return None,
        };
        let next = RecordKeys::tls13(suite, &secret)?;
        let o = next.open(0..window, header, frag, true).ok()?;
        let side = &mut self.sides[d];
        side.keys = Some(next);
        side.secret = Some(secret);
        side.epoch = epoch;
        Some((o, None))
    }

    fn after_close_check(&mut self, d: usize, dir: Dir, content_type: u8, sink: &mut impl TlsSink) {
        let side = &mut self.sides[d];
        if side.close_notify && !side.after_close_reported && content_type != wire::CONTENT_ALERT {
            side.after_close_reported = true;
            sink.event(
                dir,
                anomaly(
                    TlsCode::TlsDataAfterCloseNotify,
                    format!(
                        "{} record after this side's close_notify",
                        wire::content_name(content_type)
                    ),
                ),
            );
        }
    }

    /// The content of a record (decrypted, or plaintext before protection).
    fn content(
        &mut self,
        dir: Dir,
        content_type: u8,
        data: &[u8],
        encrypted: bool,
        record: u64,
        sink: &mut impl TlsSink,
    ) {
        match content_type {
            wire::CONTENT_HANDSHAKE => self.handshake_bytes(dir, data, encrypted, record, sink),
            wire::CONTENT_APPLICATION_DATA => {
                let early_data = dir == Dir::C2S && self.session.early_data_offered;
                if !(encrypted || early_data) {
                    sink.event(
                        dir,
                        anomaly(
                            TlsCode::TlsBadRecord,
                            format!("application data record #{record} before the handshake protected the connection"),
                        ),
                    );
                } else if !data.is_empty() {
                    sink.event(dir, TlsEvent::Plaintext(data));
                }
            }
            wire::CONTENT_ALERT => self.alerts(dir, data, encrypted, sink),
            wire::CONTENT_CHANGE_CIPHER_SPEC => {
                sink.event(dir, TlsEvent::ChangeCipherSpec);
                if !is13(self.session.version) {
                    self.change_cipher_spec(dir, sink);
                }
            }
            _ => {}
        }
    }

    fn alerts(&mut self, dir: Dir, data: &[u8], encrypted: bool, sink: &mut impl TlsSink) {
        let tls13 = is13(self.session.version);
        for pair in data.chunks(2) {
            let &[level, description] = pair else {
                sink.event(
                    dir,
                    anomaly(
                        TlsCode::TlsBadRecord,
                        "alert record with an odd length".into(),
                    ),
                );
                return;
            };
            sink.event(
                dir,
                TlsEvent::Alert {
                    level,
                    description,
                    encrypted,
                },
            );
            let name = wire::alert_name(description);
            if description == 0 {
                self.sides[dir.index()].close_notify = true;
                continue;
            }
            let fatal = level == 2 || (tls13 && description != 90);
            let code = if fatal {
                TlsCode::TlsAlert
            } else {
                TlsCode::TlsAlertWarning
            };
            sink.event(
                dir,
                anomaly(
                    code,
                    format!(
                        "{} alert {name} ({description}) from the {}",
                        if fatal { "fatal" } else { "warning" },
                        if dir == Dir::C2S { "client" } else { "server" }
                    ),
                ),
            );
        }
    }

    fn handshake_bytes(
        &mut self,
        dir: Dir,
        mut data: &[u8],
        encrypted: bool,
        record: u64,
        sink: &mut impl TlsSink,
    ) {
        let d = dir.index();
        let side = &mut self.sides[d];
        if side.hs_skip > 0 {
            let n = side.hs_skip.min(data.len() as u64);
            side.hs_skip -= n;
            data = &data[n as usize..];
        }
        if side.hs.is_empty() {
            side.hs_record = record;
            // Whole messages straight from the record.
            while let Some((t, len)) = wire::handshake_header(data) {
                if data.len() < 4 + len {
                    break;
                }
                let (msg, rest) = data.split_at(4 + len);
                self.handshake_message(dir, t, &msg[4..], encrypted, record, sink);
                data = rest;
            }
            if data.is_empty() {
                return;
            }
        }
        let side = &mut self.sides[d];
        if side.hs.is_empty() {
            side.hs_record = record;
        }
        side.hs.extend_from_slice(data);
        let mut hs = std::mem::take(&mut self.sides[d].hs);
        let mut at = 0;
        while let Some((t, len)) = wire::handshake_header(&hs[at..]) {
            if len > MAX_HANDSHAKE {
                let have = hs.len() - at - 4;
                sink.event(
                    dir,
                    anomaly(
                        TlsCode::TlsHandshakeTooLong,
                        format!(
                            "{} of {len} bytes (limit {MAX_HANDSHAKE}): skipped",
                            wire::handshake_name(t)
                        ),
                    ),
                );
                self.sides[d].hs_skip = (len - have.min(len)) as u64;
                at = hs.len().min(at + 4 + len);
                continue;
            }
            if hs.len() - at < 4 + len {
                break;
            }
            let first_record = self.sides[d].hs_record;
            self.handshake_message(
                dir,
                t,
                &hs[at + 4..at + 4 + len],
                encrypted,
                first_record,
                sink,
            );
            at += 4 + len;
            self.sides[d].hs_record = record;
        }
        hs.drain(..at);
        let side = &mut self.sides[d];
        if side.hs.is_empty() {
            side.hs = hs;
        }
    }

    fn handshake_message(
        &mut self,
        dir: Dir,
        msg_type: u8,
        body: &[u8],
        encrypted: bool,
        record: u64,
        sink: &mut impl TlsSink,
    ) {
        sink.event(
            dir,
            TlsEvent::Handshake {
                msg_type,
                len: body.len() as u32,
                record,
                encrypted,
            },
        );
        let tls13 = is13(self.session.version);
        let malformed = |sink: &mut dyn FnMut(TlsEvent<'_>)| {
            sink(anomaly(
                TlsCode::TlsHandshakeMalformed,
                format!(
                    "{} ({} bytes) does not parse",
                    wire::handshake_name(msg_type),
                    body.len()
                ),
            ))
        };
        let mut emit = |e: TlsEvent<'_>| sink.event(dir, e);
        match msg_type {
            wire::HS_CLIENT_HELLO => {
                let Some(ch) = ClientHello::parse(body) else {
                    return malformed(&mut emit);
                };
                if self.session.established && !tls13 {
                    emit(anomaly(
                        TlsCode::TlsRenegotiation,
                        "ClientHello inside the protected session: renegotiation".into(),
                    ));
                }
                let s = &mut self.session;
                s.client_random = Some(*ch.random);
                let mut id = [0u8; 32];
                let n = ch.session_id.len().min(32);
                id[..n].copy_from_slice(&ch.session_id[..n]);
                s.client_session_id = Some((id, n as u8));
                s.etm_offered = ch.encrypt_then_mac;
                s.early_data_offered = ch.early_data;
                s.secrets = None;
                s.missing_reported = false;
                emit(TlsEvent::ClientHello(&ch));
            }
            wire::HS_SERVER_HELLO => {
                let Some(sh) = ServerHello::parse(body) else {
                    return malformed(&mut emit);
                };
                emit(TlsEvent::ServerHello(&sh));
                if sh.hello_retry {
                    return;
                }
                self.server_hello(dir, &sh, sink);
            }
            wire::HS_ENCRYPTED_EXTENSIONS => {
                if let Some(alpn) = wire::encrypted_extensions_alpn(body) {
                    emit(TlsEvent::AlpnSelected(alpn));
                }
            }
            wire::HS_FINISHED => {
                if tls13 && encrypted {
                    self.sides[dir.index()].pending_epoch =
                        Some(Epoch::Application { generation: 0 });
                }
                if encrypted && (dir == Dir::S2C || !tls13) {
                    self.session.established = true;
                }
            }
            wire::HS_KEY_UPDATE if tls13 => {
                let side = &mut self.sides[dir.index()];
                if let Epoch::Application { generation } = side.epoch {
                    side.pending_epoch = Some(Epoch::Application {
                        generation: generation + 1,
                    });
                }
            }
            wire::HS_HELLO_REQUEST if !tls13 => {
                emit(anomaly(
                    TlsCode::TlsRenegotiation,
                    "HelloRequest: the server asks for renegotiation".into(),
                ));
            }
            _ => {}
        }
    }

    fn server_hello(&mut self, dir: Dir, sh: &ServerHello<'_>, sink: &mut impl TlsSink) {
        let s = &mut self.session;
        s.server_hello_seen = true;
        s.server_random = Some(*sh.random);
        let version = sh.version();
        s.version = Some(version);
        let suite = suite::lookup(sh.cipher_suite).filter(|x| x.tls13 == (version == 0x0304));
        s.suite = suite;
        s.etm = s.etm_offered && sh.encrypt_then_mac && suite.is_some_and(|x| !x.cipher.is_aead());
        let resumed = if version == 0x0304 {
            sh.pre_shared_key
        } else {
            s.client_session_id
                .is_some_and(|(id, n)| n > 0 && &id[..usize::from(n)] == sh.session_id)
        };
        let decryptable = suite.is_some() && version >= 0x0303;
        sink.event(
            dir,
            TlsEvent::Negotiated(Negotiated {
                version,
                cipher_suite: sh.cipher_suite,
                resumed,
                group: sh.key_share_group,
                alpn: sh.alpn,
                encrypt_then_mac: s.etm,
                extended_master_secret: sh.extended_master_secret,
                decryptable,
            }),
        );
        if version < 0x0303 {
            sink.event(
                dir,
                anomaly(
                    TlsCode::TlsUnsupportedVersion,
                    format!(
                        "{} cannot be decrypted (only TLS 1.2 and 1.3)",
                        suite::version_name(version).unwrap_or("this version")
                    ),
                ),
            );
        } else if suite.is_none() {
            let name = suite::name(sh.cipher_suite)
                .map_or_else(|| format!("0x{:04x}", sh.cipher_suite), str::to_string);
            sink.event(
                dir,
                anomaly(
                    TlsCode::TlsUnsupportedCipherSuite,
                    format!("{name} cannot be decrypted"),
                ),
            );
        }
        if version == 0x0304 {
            // Both directions are protected from here, under handshake keys.
            for side in &mut self.sides {
                side.protected = true;
                side.epoch = Epoch::Handshake;
                side.seq = 0;
                side.seq_known = true;
                side.keys = None;
                side.secret = None;
            }
            self.ensure_keys(Dir::S2C, sink);
        }
    }

    /// TLS ≤ 1.2: from this record on, the direction is protected with the key block's keys.
    fn change_cipher_spec(&mut self, dir: Dir, sink: &mut impl TlsSink) {
        let d = dir.index();
        let renegotiation = self.sides[d].protected;
        let side = &mut self.sides[d];
        side.protected = true;
        side.seq = 0;
        side.seq_known = true;
        side.epoch = Epoch::Application {
            generation: match side.epoch {
                Epoch::Application { generation } if renegotiation => generation + 1,
                _ => 0,
            },
        };
        side.keys = self.session.tls12_keys[d].take();
        if side.keys.is_none() {
            self.ensure_keys(dir, sink);
        }
        let epoch = self.sides[d].epoch;
        sink.event(dir, TlsEvent::Epoch(epoch));
    }

    fn apply_pending_epoch(&mut self, dir: Dir, sink: &mut impl TlsSink) {
        let d = dir.index();
        let Some(epoch) = self.sides[d].pending_epoch.take() else {
            return;
        };
        let Some(suite) = self.session.suite.filter(|s| s.tls13) else {
            return;
        };
        let side = &mut self.sides[d];
        let secret = match epoch {
            Epoch::Application { generation: 0 } => {
                let s = self.session.secrets;
                s.and_then(|s| {
                    if d == Dir::C2S.index() {
                        s.client_traffic
                    } else {
                        s.server_traffic
                    }
                })
            }
            Epoch::Application { .. } => side
                .secret
                .as_ref()
                .map(|cur| next_traffic_secret(suite.hash, cur)),
            _ => None,
        };
        side.epoch = epoch;
        side.seq = 0;
        side.seq_known = true;
        side.keys = secret.as_ref().and_then(|s| RecordKeys::tls13(suite, s));
        side.secret = secret;
        sink.event(dir, TlsEvent::Epoch(epoch));
    }

    /// Derives the direction's keys for its current epoch if the secrets are known, asking the
    /// sink for them when not yet found; reports missing secrets once per session.
    fn ensure_keys(&mut self, dir: Dir, sink: &mut impl TlsSink) {
        let d = dir.index();
        let Some(cr) = self.session.client_random else {
            return;
        };
        let Some(suite) = self.session.suite else {
            return;
        };
        if self.session.version.is_none_or(|v| v < 0x0303) {
            return;
        }
        if self.session.secrets.is_none() {
            self.session.secrets = sink.secrets(&cr);
        }
        let secrets = self.session.secrets.unwrap_or_default();
        let client = d == Dir::C2S.index();
        let (keys, secret, missing): (Option<RecordKeys>, Option<Secret>, &str) = if suite.tls13 {
            let (secret, label) = match (self.sides[d].epoch, client) {
                (Epoch::Handshake, true) => {
                    (secrets.client_handshake, "CLIENT_HANDSHAKE_TRAFFIC_SECRET")
                }
                (Epoch::Handshake, false) => {
                    (secrets.server_handshake, "SERVER_HANDSHAKE_TRAFFIC_SECRET")
                }
                (Epoch::Application { generation: 0 }, true) => {
                    (secrets.client_traffic, "CLIENT_TRAFFIC_SECRET_0")
                }
                (Epoch::Application { generation: 0 }, false) => {
                    (secrets.server_traffic, "SERVER_TRAFFIC_SECRET_0")
                }
                (Epoch::Early, _) => (secrets.client_early, "CLIENT_EARLY_TRAFFIC_SECRET"),
                _ => (None, "the traffic secret of the previous generation"),
            };
            (
                secret.as_ref().and_then(|s| RecordKeys::tls13(suite, s)),
                secret,
                label,
            )
        } else {
            let keys = match (secrets.master, self.session.server_random) {
                (Some(ms), Some(sr)) => RecordKeys::tls12(suite, &ms, &cr, &sr, self.session.etm),
                _ => None,
            };
            match keys {
                Some((c, s)) => {
                    let (mine, other) = if client { (c, s) } else { (s, c) };
                    if !self.sides[1 - d].protected {
                        self.session.tls12_keys[1 - d] = Some(other);
                    }
                    (Some(mine), None, "")
                }
                None => (None, None, "CLIENT_RANDOM"),
            }
        };
        if keys.is_none() {
            self.session.secrets = None;
            if !self.session.missing_reported {
                self.session.missing_reported = true;
                let detail = format!("no {missing} in the key log for client random {}", hex(&cr));
                if self.hold > 0 {
                    // Told only if the records held for the secrets are given up.
                    self.missing_detail = Some((dir, detail));
                } else {
                    sink.event(dir, anomaly(TlsCode::TlsMissingSecrets, detail));
                }
            }
            return;
        }
        self.missing_detail = None;
        let side = &mut self.sides[d];
        side.keys = keys;
        side.secret = secret;
        // TLS 1.3: derive the other direction's handshake keys too, on the same lookup.
        if suite.tls13 && self.sides[1 - d].keys.is_none() && self.sides[1 - d].protected {
            let other = if client { Dir::S2C } else { Dir::C2S };
            let o = &mut self.sides[1 - d];
            let s = match (o.epoch, other) {
                (Epoch::Handshake, Dir::C2S) => secrets.client_handshake,
                (Epoch::Handshake, Dir::S2C) => secrets.server_handshake,
                _ => None,
            };
            o.keys = s.as_ref().and_then(|s| RecordKeys::tls13(suite, s));
            o.secret = s;
        }
    }
}

/// One record of `len` fragment bytes that will not be delivered: its plaintext is known when
/// the protection's overhead is fixed.
fn gap_of_one(overhead: Option<u64>, len: u16) -> TlsEvent<'static> {
    TlsEvent::PlaintextGap {
        bytes: overhead.and_then(|o| u64::from(len).checked_sub(o)),
        records: Some(1),
    }
}

fn anomaly(code: TlsCode, detail: String) -> TlsEvent<'static> {
    TlsEvent::Anomaly { code, detail }
}

fn too_large(info: &RecordInfo, limit: usize) -> TlsEvent<'static> {
    anomaly(
        TlsCode::TlsRecordTooLarge,
        format!(
            "record #{} of {} bytes{} (limit {limit}{})",
            info.index,
            info.len,
            info.plaintext_len
                .map_or(String::new(), |p| format!(", {p} of plaintext")),
            if limit == wire::MAX_PLAINTEXT {
                ""
            } else {
                " of ciphertext, 16384 of plaintext"
            }
        ),
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A header ordinary framing can follow: a content type TLS knows and an SSL 3.0 – TLS 1.3
/// version. An over-long length is read anyway (and reported).
fn framing_header(h: &RecordHeader) -> bool {
    (wire::CONTENT_CHANGE_CIPHER_SPEC..=wire::CONTENT_HEARTBEAT).contains(&h.content_type)
        && (0x0300..=0x0304).contains(&h.version)
}

fn bad_header(h: &RecordHeader, offset: u64) -> TlsEvent<'static> {
    anomaly(
        TlsCode::TlsBadRecord,
        format!(
            "bytes {:02x} {:04x} {:04x} at stream offset {offset} are not a TLS record header: \
             looking for the next one",
            h.content_type, h.version, h.len
        ),
    )
}
