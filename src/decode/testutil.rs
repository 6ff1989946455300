//! Packet builders for tests: they write what they are told, including wrong lengths.

/// A TCP header (ports 51000 → `dst_port`, ack 7, PSH|ACK, window 512, NOP options up to
/// `header_len`) followed by `payload`.
pub(crate) fn tcp_bytes(dst_port: u16, seq: u32, header_len: usize, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&51000u16.to_be_bytes());
    v.extend_from_slice(&dst_port.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&7u32.to_be_bytes());
    v.push(((header_len / 4) as u8) << 4);
    v.push(0x18);
    v.extend_from_slice(&512u16.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.resize(header_len.max(20), 1);
    v.extend_from_slice(payload);
    v
}

/// The Internet checksum of `bytes`.
pub(crate) fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub(crate) struct Ipv4Spec {
    payload: Vec<u8>,
    options: usize,
    total_len: Option<u16>,
    protocol: u8,
    id: u16,
    frag_units: u16,
    more: bool,
}

impl Ipv4Spec {
    pub(crate) fn tcp(payload: &[u8]) -> Self {
        Ipv4Spec {
            payload: payload.to_vec(),
            options: 0,
            total_len: None,
            protocol: 6,
            id: 0x1c46,
            frag_units: 0,
            more: false,
        }
    }
    /// Option bytes (a multiple of 4; NOPs).
    pub(crate) fn options(mut self, n: usize) -> Self {
        self.options = n;
        self
    }
    pub(crate) fn total_len(mut self, n: u16) -> Self {
        self.total_len = Some(n);
        self
    }
    pub(crate) fn protocol(mut self, p: u8) -> Self {
        self.protocol = p;
        self
    }
    /// Fragment `id` at `units` × 8 bytes.
    pub(crate) fn fragment(mut self, id: u16, units: u16, more: bool) -> Self {
        self.id = id;
        self.frag_units = units;
        self.more = more;
        self
    }
    pub(crate) fn build(self) -> Vec<u8> {
        let header_len = 20 + self.options;
        let total = self
            .total_len
            .unwrap_or((header_len + self.payload.len()) as u16);
        let flags_frag = if self.more {
            0x2000
        } else {
            0x4000 * u16::from(self.frag_units == 0)
        } | self.frag_units;
        let mut v = vec![0x40 | (header_len / 4) as u8, 0];
        v.extend_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&self.id.to_be_bytes());
        v.extend_from_slice(&flags_frag.to_be_bytes());
        v.extend_from_slice(&[64, self.protocol, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        v.resize(header_len, 1);
        let sum = checksum(&v);
        v[10..12].copy_from_slice(&sum.to_be_bytes());
        v.extend_from_slice(&self.payload);
        v
    }
}

pub(crate) struct Ipv6Spec {
    payload: Vec<u8>,
    next_header: u8,
    payload_len: Option<u16>,
    /// (header type, bytes) in order.
    extensions: Vec<(u8, Vec<u8>)>,
}

impl Ipv6Spec {
    pub(crate) fn tcp(payload: &[u8]) -> Self {
        Ipv6Spec {
            payload: payload.to_vec(),
            next_header: 6,
            payload_len: None,
            extensions: Vec::new(),
        }
    }
    pub(crate) fn next_header(mut self, n: u8) -> Self {
        self.next_header = n;
        self
    }
    pub(crate) fn payload_len(mut self, n: u16) -> Self {
        self.payload_len = Some(n);
        self
    }
    fn generic(mut self, kind: u8, len: usize) -> Self {
        let mut h = vec![0, (len / 8 - 1) as u8];
        h.resize(len, 0);
        self.extensions.push((kind, h));
        self
    }
    pub(crate) fn hop_by_hop(self, len: usize) -> Self {
        self.generic(0, len)
    }
    pub(crate) fn dest_options(self, len: usize) -> Self {
        self.generic(60, len)
    }
    /// Fragment header: `id`, offset `units` × 8 bytes.
    pub(crate) fn fragment(mut self, id: u32, units: u16, more: bool) -> Self {
        let mut h = vec![0, 0];
        h.extend_from_slice(&((units << 3) | u16::from(more)).to_be_bytes());
        h.extend_from_slice(&id.to_be_bytes());
        self.extensions.push((44, h));
        self
    }
    pub(crate) fn build(self) -> Vec<u8> {
        let mut body = Vec::new();
        let first = self
            .extensions
            .first()
            .map(|e| e.0)
            .unwrap_or(self.next_header);
        for (i, (_, h)) in self.extensions.iter().enumerate() {
            let next = self
                .extensions
                .get(i + 1)
                .map(|e| e.0)
                .unwrap_or(self.next_header);
            let mut h = h.clone();
            h[0] = next;
            body.extend_from_slice(&h);
        }
        body.extend_from_slice(&self.payload);
        let len = self.payload_len.unwrap_or(body.len() as u16);
        let mut v = vec![0x60, 0, 0, 0];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(&[first, 64]);
        v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v.extend_from_slice(&[0; 11]);
        v.push(1);
        v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v.extend_from_slice(&[0; 11]);
        v.push(2);
        v.extend_from_slice(&body);
        v
    }
}

/// An Ethernet II frame around `payload`, with optional VLAN tags (TPID, VLAN id).
pub(crate) fn ethernet(tags: &[(u16, u16)], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    for &(tpid, id) in tags {
        v.extend_from_slice(&tpid.to_be_bytes());
        v.extend_from_slice(&id.to_be_bytes());
    }
    v.extend_from_slice(&ether_type.to_be_bytes());
    v.extend_from_slice(payload);
    v
}
