//! Builders for pcap and pcapng bytes, for tests. They write exactly what they are told
//! (including inconsistent lengths) so that tests can build malformed files too.

/// A packet as a test wants it read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TestPacket {
    /// Nanoseconds since the epoch.
    pub ts: i64,
    pub data: Vec<u8>,
    pub orig_len: u32,
}

impl TestPacket {
    pub(crate) fn new(ts: i64, data: Vec<u8>, orig_len: u32) -> Self {
        TestPacket { ts, data, orig_len }
    }
}

fn put16(out: &mut Vec<u8>, big: bool, v: u16) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}
fn put32(out: &mut Vec<u8>, big: bool, v: u32) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}
fn put64(out: &mut Vec<u8>, big: bool, v: u64) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}
fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

pub(crate) struct PcapBuilder {
    big: bool,
    nanos: bool,
    link_type: u32,
    snaplen: u32,
    records: Vec<u8>,
}

impl PcapBuilder {
    pub(crate) fn new(big: bool, nanos: bool, link_type: u32) -> Self {
        PcapBuilder {
            big,
            nanos,
            link_type,
            snaplen: 262_144,
            records: Vec::new(),
        }
    }

    pub(crate) fn snaplen(mut self, snaplen: u32) -> Self {
        self.snaplen = snaplen;
        self
    }

    pub(crate) fn raw_record(mut self, sec: u32, frac: u32, data: &[u8], orig_len: u32) -> Self {
        let big = self.big;
        put32(&mut self.records, big, sec);
        put32(&mut self.records, big, frac);
        put32(&mut self.records, big, data.len() as u32);
        put32(&mut self.records, big, orig_len);
        self.records.extend_from_slice(data);
        self
    }

    pub(crate) fn packet(self, p: &TestPacket) -> Self {
        let sec = p.ts.div_euclid(1_000_000_000) as u32;
        let ns = p.ts.rem_euclid(1_000_000_000) as u32;
        let frac = if self.nanos { ns } else { ns / 1_000 };
        self.raw_record(sec, frac, &p.data, p.orig_len)
    }

    pub(crate) fn packets(self, ps: &[TestPacket]) -> Self {
        ps.iter().fold(self, |b, p| b.packet(p))
    }

    pub(crate) fn build(self) -> Vec<u8> {
        let mut out = Vec::new();
        let magic: u32 = if self.nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        put32(&mut out, self.big, magic);
        put16(&mut out, self.big, 2);
        put16(&mut out, self.big, 4);
        put32(&mut out, self.big, 0);
        put32(&mut out, self.big, 0);
        put32(&mut out, self.big, self.snaplen);
        put32(&mut out, self.big, self.link_type);
        out.extend_from_slice(&self.records);
        out
    }
}

/// pcapng option codes used by tests.
pub(crate) const OPT_IF_TSRESOL: u16 = 9;
pub(crate) const OPT_IF_TSOFFSET: u16 = 14;

pub(crate) struct PcapNgBuilder {
    big: bool,
    out: Vec<u8>,
}

impl PcapNgBuilder {
    /// Starts with a Section Header Block in the given byte order.
    pub(crate) fn new(big: bool) -> Self {
        PcapNgBuilder {
            big: false,
            out: Vec::new(),
        }
        .section(big)
    }

    /// A new section (SHB), possibly switching byte order.
    pub(crate) fn section(mut self, big: bool) -> Self {
        self.big = big;
        let mut body = Vec::new();
        put32(&mut body, big, 0x1a2b_3c4d);
        put16(&mut body, big, 1);
        put16(&mut body, big, 0);
        put64(&mut body, big, u64::MAX);
        self.block(0x0a0d_0d0a, &body)
    }

    /// A block with the given type and body (padded to 4 bytes), lengths filled in.
    pub(crate) fn block(mut self, block_type: u32, body: &[u8]) -> Self {
        let mut padded = body.to_vec();
        pad4(&mut padded);
        let len = (padded.len() + 12) as u32;
        let big = self.big;
        put32(&mut self.out, big, block_type);
        put32(&mut self.out, big, len);
        self.out.extend_from_slice(&padded);
        put32(&mut self.out, big, len);
        self
    }

    fn options(&self, body: &mut Vec<u8>, options: &[(u16, Vec<u8>)]) {
        for (code, value) in options {
            put16(body, self.big, *code);
            put16(body, self.big, value.len() as u16);
            body.extend_from_slice(value);
            pad4(body);
        }
        if !options.is_empty() {
            body.extend_from_slice(&[0; 4]);
        }
    }

    /// An Interface Description Block with raw options.
    pub(crate) fn idb(mut self, link_type: u16, snaplen: u32, options: &[(u16, Vec<u8>)]) -> Self {
        let mut body = Vec::new();
        put16(&mut body, self.big, link_type);
        put16(&mut body, self.big, 0);
        put32(&mut body, self.big, snaplen);
        self.options(&mut body, options);
        self = self.block(1, &body);
        self
    }

    /// An IDB with optional `if_tsresol` (raw byte) and `if_tsoffset` (seconds).
    pub(crate) fn interface(
        self,
        link_type: u16,
        tsresol: Option<u8>,
        tsoffset: Option<i64>,
    ) -> Self {
        let mut options = Vec::new();
        if let Some(r) = tsresol {
            options.push((OPT_IF_TSRESOL, vec![r]));
        }
        if let Some(o) = tsoffset {
            let v = if self.big {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            };
            options.push((OPT_IF_TSOFFSET, v.to_vec()));
        }
        self.idb(link_type, 0, &options)
    }

    /// An Enhanced Packet Block; `ts` in the interface's units.
    pub(crate) fn epb(self, interface: u32, ts: u64, data: &[u8], orig_len: u32) -> Self {
        self.epb_with_options(interface, ts, data, orig_len, &[])
    }

    pub(crate) fn epb_with_options(
        self,
        interface: u32,
        ts: u64,
        data: &[u8],
        orig_len: u32,
        options: &[(u16, Vec<u8>)],
    ) -> Self {
        let mut body = Vec::new();
        put32(&mut body, self.big, interface);
        put32(&mut body, self.big, (ts >> 32) as u32);
        put32(&mut body, self.big, ts as u32);
        put32(&mut body, self.big, data.len() as u32);
        put32(&mut body, self.big, orig_len);
        body.extend_from_slice(data);
        pad4(&mut body);
        self.options(&mut body, options);
        self.block(6, &body)
    }

    /// A Simple Packet Block.
    pub(crate) fn spb(self, data: &[u8], orig_len: u32) -> Self {
        let mut body = Vec::new();
        put32(&mut body, self.big, orig_len);
        body.extend_from_slice(data);
        self.block(3, &body)
    }

    /// An obsolete Packet Block (type 2).
    pub(crate) fn pb(self, interface: u16, ts: u64, data: &[u8], orig_len: u32) -> Self {
        let mut body = Vec::new();
        put16(&mut body, self.big, interface);
        put16(&mut body, self.big, 0);
        put32(&mut body, self.big, (ts >> 32) as u32);
        put32(&mut body, self.big, ts as u32);
        put32(&mut body, self.big, data.len() as u32);
        put32(&mut body, self.big, orig_len);
        body.extend_from_slice(data);
        self.block(2, &body)
    }

    pub(crate) fn len(&self) -> usize {
        self.out.len()
    }

    pub(crate) fn build(self) -> Vec<u8> {
        self.out
    }
}
