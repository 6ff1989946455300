//! The `-V` detail tree: one node per layer with its fields, worded like Wireshark's packet
//! details pane. Not on the hot path (only printed packets are described), so it allocates
//! freely; it still never panics and marks cut or inconsistent headers instead of failing.
//!
//! Boundaries come from the same code the decoder uses (`link`, `ip`, `tcp`), so the tree
//! always agrees with what was analyzed. Sequence numbers are shown raw: relative numbers need
//! flow state, which this function does not have.

use super::ip::{self, IpOutcome};
use super::link::{self, LinkLayer, Network};
use super::tcp::TcpView;
use crate::source::Frame;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One line of the tree and the lines under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetailNode {
    pub text: String,
    pub children: Vec<DetailNode>,
}

impl DetailNode {
    pub fn leaf(text: impl Into<String>) -> Self {
        DetailNode {
            text: text.into(),
            children: Vec::new(),
        }
    }

    pub fn new(text: impl Into<String>, children: Vec<DetailNode>) -> Self {
        DetailNode {
            text: text.into(),
            children,
        }
    }

    /// The tree as indented lines (two spaces per level), for tests and simple printers.
    pub fn render(nodes: &[DetailNode]) -> String {
        fn walk(out: &mut String, nodes: &[DetailNode], depth: usize) {
            for n in nodes {
                let _ = writeln!(out, "{:width$}{}", "", n.text, width = depth * 2);
                walk(out, &n.children, depth + 1);
            }
        }
        let mut out = String::new();
        walk(&mut out, nodes, 0);
        out
    }
}

/// Describes a frame layer by layer: frame, link header(s), IP, TCP.
pub fn describe(frame: &Frame<'_>) -> Vec<DetailNode> {
    let mut nodes = vec![frame_node(frame)];
    let mut layers = Vec::new();
    let net = link::network(frame.link_type, frame.data, &mut |l| layers.push(l));
    nodes.extend(layers.iter().map(link_node));
    match net {
        Ok(Network::Ipv4(bytes)) => ipv4_nodes(bytes, &mut nodes),
        Ok(Network::Ipv6(bytes)) => ipv6_nodes(bytes, &mut nodes),
        Err(super::Skip::UnknownLinkType(lt)) => nodes.push(DetailNode::leaf(format!(
            "Unsupported link type {lt}: {} bytes not decoded",
            frame.data.len()
        ))),
        Err(super::Skip::Malformed) => {
            nodes.push(DetailNode::leaf("[Malformed: link-layer header cut short]"))
        }
        Err(_) => nodes.push(DetailNode::leaf("Not an IP packet")),
    }
    nodes
}

fn frame_node(frame: &Frame<'_>) -> DetailNode {
    let wire = u64::from(frame.orig_len);
    let captured = frame.data.len() as u64;
    let mut children = vec![
        DetailNode::leaf(format!("Encapsulation type: {}", frame.link_type)),
        DetailNode::leaf(format!("Epoch Arrival Time: {} seconds", epoch(frame.ts.0))),
        DetailNode::leaf(format!("Interface id: {}", frame.interface)),
        DetailNode::leaf(format!("Frame Number: {}", frame.index)),
        DetailNode::leaf(format!("Frame Length: {wire} bytes ({} bits)", wire * 8)),
        DetailNode::leaf(format!(
            "Capture Length: {captured} bytes ({} bits)",
            captured * 8
        )),
    ];
    if captured < wire {
        children.push(DetailNode::leaf(format!(
            "[Packet size limited during capture: {} bytes not captured]",
            wire - captured
        )));
    }
    DetailNode::new(
        format!(
            "Frame {}: {wire} bytes on wire ({} bits), {captured} bytes captured ({} bits)",
            frame.index,
            wire * 8,
            captured * 8
        ),
        children,
    )
}

fn epoch(ns: i64) -> String {
    format!(
        "{}.{:09}",
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000)
    )
}

fn mac(m: &[u8]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ether_type_name(t: u16) -> String {
    let name = match t {
        0x0800 => "IPv4",
        0x86dd => "IPv6",
        0x0806 => "ARP",
        0x8100 => "802.1Q Virtual LAN",
        0x88a8 => "802.1ad Provider Bridge (Q-in-Q)",
        0x9100 | 0x9200 => "VLAN (Q-in-Q)",
        0x88cc => "LLDP",
        0x8847 => "MPLS",
        0x8864 => "PPPoE Session",
        _ if t < 0x0600 => return format!("Length: {t}"),
        _ => "Unknown",
    };
    format!("{name} (0x{t:04x})")
}

fn arphrd_name(t: u16) -> &'static str {
    match t {
        1 => "Ethernet",
        772 => "Loopback",
        776 => "IPv6-in-IPv4",
        778 => "IP GRE",
        65534 => "None",
        _ => "Unknown",
    }
}

fn packet_type_name(t: u16) -> &'static str {
    match t {
        0 => "Unicast to us",
        1 => "Broadcast",
        2 => "Multicast",
        3 => "Unicast to another host",
        4 => "Sent by us",
        _ => "Unknown",
    }
}

/// Wireshark's dotted bit notation: the `len` bits starting `start` bits from the top of a
/// `width`-bit field, the others as dots, grouped by four, e.g. `bits(0x45, 8, 0, 4)` =
/// `0100 ....`. The protocol part of the tree (`report::verbose`) draws its bits with it too.
pub fn bits(value: u64, width: u32, start: u32, len: u32) -> String {
    let mut s = String::new();
    for i in 0..width {
        if i > 0 && i % 4 == 0 {
            s.push(' ');
        }
        if i >= start && i < start + len {
            let bit = (value >> (width - 1 - i)) & 1;
            s.push(if bit == 1 { '1' } else { '0' });
        } else {
            s.push('.');
        }
    }
    s
}

fn set(flag: bool) -> &'static str {
    if flag { "Set" } else { "Not set" }
}

fn link_node(layer: &LinkLayer<'_>) -> DetailNode {
    match *layer {
        LinkLayer::Ethernet {
            dst,
            src,
            ether_type,
        } => DetailNode::new(
            format!("Ethernet II, Src: {}, Dst: {}", mac(&src), mac(&dst)),
            vec![
                DetailNode::leaf(format!("Destination: {}", mac(&dst))),
                DetailNode::leaf(format!("Source: {}", mac(&src))),
                DetailNode::leaf(format!("Type: {}", ether_type_name(ether_type))),
            ],
        ),
        LinkLayer::Vlan {
            tpid,
            tci,
            ether_type,
        } => {
            let (pri, dei, id) = (tci >> 13, (tci >> 12) & 1, tci & 0x0fff);
            let title = if tpid == 0x8100 {
                "802.1Q Virtual LAN"
            } else {
                "802.1ad Provider Bridge (Q-in-Q)"
            };
            DetailNode::new(
                format!("{title}, PRI: {pri}, DEI: {dei}, ID: {id}"),
                vec![
                    DetailNode::leaf(format!("{} = Priority: {pri}", bits(tci.into(), 16, 0, 3))),
                    DetailNode::leaf(format!("{} = DEI: {dei}", bits(tci.into(), 16, 3, 1))),
                    DetailNode::leaf(format!("{} = ID: {id}", bits(tci.into(), 16, 4, 12))),
                    DetailNode::leaf(format!("Type: {}", ether_type_name(ether_type))),
                ],
            )
        }
        LinkLayer::Sll {
            packet_type,
            arphrd,
            address,
            protocol,
        } => DetailNode::new(
            "Linux cooked capture v1",
            vec![
                DetailNode::leaf(format!(
                    "Packet type: {} ({packet_type})",
                    packet_type_name(packet_type)
                )),
                DetailNode::leaf(format!(
                    "Link-layer address type: {} ({arphrd})",
                    arphrd_name(arphrd)
                )),
                DetailNode::leaf(format!("Link-layer address length: {}", address.len())),
                DetailNode::leaf(format!("Source: {}", mac(address))),
                DetailNode::leaf(format!("Protocol: {}", ether_type_name(protocol))),
            ],
        ),
        LinkLayer::Sll2 {
            protocol,
            ifindex,
            arphrd,
            packet_type,
            address,
        } => DetailNode::new(
            "Linux cooked capture v2",
            vec![
                DetailNode::leaf(format!("Protocol: {}", ether_type_name(protocol))),
                DetailNode::leaf(format!("Interface index: {ifindex}")),
                DetailNode::leaf(format!(
                    "Link-layer address type: {} ({arphrd})",
                    arphrd_name(arphrd)
                )),
                DetailNode::leaf(format!(
                    "Packet type: {} ({packet_type})",
                    packet_type_name(packet_type.into())
                )),
                DetailNode::leaf(format!("Link-layer address length: {}", address.len())),
                DetailNode::leaf(format!("Source: {}", mac(address))),
            ],
        ),
        LinkLayer::Family { family, big_endian } => {
            let name = match family {
                2 => "IP",
                24 | 28 | 30 => "IPv6",
                _ => "Unknown",
            };
            let order = if big_endian {
                "network byte order"
            } else {
                "little-endian"
            };
            DetailNode::new(
                "Null/Loopback",
                vec![DetailNode::leaf(format!(
                    "Family: {name} ({family}), {order}"
                ))],
            )
        }
        LinkLayer::Raw => DetailNode::new(
            "Raw packet data",
            vec![DetailNode::leaf("No link information available")],
        ),
    }
}

fn protocol_name(p: u8) -> &'static str {
    match p {
        0 => "IPv6 Hop-by-Hop Option",
        1 => "ICMP",
        2 => "IGMP",
        4 => "IPIP",
        6 => "TCP",
        17 => "UDP",
        41 => "IPv6",
        43 => "Routing Header for IPv6",
        44 => "Fragment Header for IPv6",
        47 => "GRE",
        50 => "Encap Security Payload",
        51 => "Authentication Header",
        58 => "ICMPv6",
        59 => "No Next Header for IPv6",
        60 => "Destination Options for IPv6",
        132 => "SCTP",
        _ => "Unknown",
    }
}

fn ds_field(ds: u8) -> String {
    let dscp = ds >> 2;
    let name = match dscp {
        0 => "CS0".to_string(),
        46 => "EF".to_string(),
        d if d % 8 == 0 => format!("CS{}", d / 8),
        d if d % 2 == 0 && (10..=38).contains(&d) => format!("AF{}{}", d / 8, (d % 8) / 2),
        d => d.to_string(),
    };
    let ecn = match ds & 3 {
        0 => "Not-ECT",
        1 => "ECT(1)",
        2 => "ECT(0)",
        _ => "CE",
    };
    format!("0x{ds:02x} (DSCP: {name}, ECN: {ecn})")
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[w, x, y, z]) => u32::from_be_bytes([w, x, y, z]),
        _ => 0,
    }
}

fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        if let &[x, y] = c {
            sum += u32::from(u16::from_be_bytes([x, y]));
        }
    }
    if let Some(&last) = chunks.remainder().first() {
        sum += u32::from(u16::from_be_bytes([last, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ipv4_nodes(bytes: &[u8], nodes: &mut Vec<DetailNode>) {
    let Some(fixed) = bytes.first_chunk::<20>() else {
        nodes.push(DetailNode::leaf(format!(
            "Internet Protocol Version 4 [Malformed: header cut short, {} of 20 bytes]",
            bytes.len()
        )));
        return;
    };
    let ihl = fixed[0] & 0x0f;
    let header_len = usize::from(ihl) * 4;
    let total_len = be16(fixed, 2);
    let id = be16(fixed, 4);
    let flags_frag = be16(fixed, 6);
    let protocol = fixed[9];
    let src = Ipv4Addr::new(fixed[12], fixed[13], fixed[14], fixed[15]);
    let dst = Ipv4Addr::new(fixed[16], fixed[17], fixed[18], fixed[19]);
    let mut c = vec![
        DetailNode::leaf(format!(
            "{} = Version: {}",
            bits(fixed[0].into(), 8, 0, 4),
            fixed[0] >> 4
        )),
        DetailNode::leaf(format!(
            "{} = Header Length: {header_len} bytes ({ihl})",
            bits(fixed[0].into(), 8, 4, 4)
        )),
        DetailNode::leaf(format!(
            "Differentiated Services Field: {}",
            ds_field(fixed[1])
        )),
        DetailNode::leaf(format!("Total Length: {total_len}")),
        DetailNode::leaf(format!("Identification: 0x{id:04x} ({id})")),
    ];
    let (rb, df, mf) = (
        flags_frag & 0x8000 != 0,
        flags_frag & 0x4000 != 0,
        flags_frag & 0x2000 != 0,
    );
    let mut flag_names = Vec::new();
    if rb {
        flag_names.push("Reserved bit");
    }
    if df {
        flag_names.push("Don't fragment");
    }
    if mf {
        flag_names.push("More fragments");
    }
    let flags_byte = u64::from(flags_frag >> 8);
    c.push(DetailNode::new(
        format!(
            "Flags: 0x{:x}{}{}",
            flags_frag >> 13,
            if flag_names.is_empty() { "" } else { ", " },
            flag_names.join(", ")
        ),
        vec![
            DetailNode::leaf(format!(
                "{} = Reserved bit: {}",
                bits(flags_byte, 8, 0, 1),
                set(rb)
            )),
            DetailNode::leaf(format!(
                "{} = Don't fragment: {}",
                bits(flags_byte, 8, 1, 1),
                set(df)
            )),
            DetailNode::leaf(format!(
                "{} = More fragments: {}",
                bits(flags_byte, 8, 2, 1),
                set(mf)
            )),
        ],
    ));
    let frag_offset = flags_frag & 0x1fff;
    c.push(DetailNode::leaf(format!(
        "{} = Fragment Offset: {}",
        bits(flags_frag.into(), 16, 3, 13),
        u32::from(frag_offset) * 8
    )));
    c.push(DetailNode::leaf(format!("Time to Live: {}", fixed[8])));
    c.push(DetailNode::leaf(format!(
        "Protocol: {} ({protocol})",
        protocol_name(protocol)
    )));
    let stored = be16(fixed, 10);
    let verdict = match bytes.get(..header_len) {
        Some(h) if header_len >= 20 => {
            if internet_checksum(h) == 0 {
                "[correct]".to_string()
            } else {
                let mut zeroed = h.to_vec();
                if let Some(field) = zeroed.get_mut(10..12) {
                    field.copy_from_slice(&[0, 0]);
                }
                format!(
                    "[incorrect, should be 0x{:04x}]",
                    internet_checksum(&zeroed)
                )
            }
        }
        _ => "[unverified]".to_string(),
    };
    c.push(DetailNode::leaf(format!(
        "Header Checksum: 0x{stored:04x} {verdict}"
    )));
    if header_len > 20 {
        let options = bytes.get(20..header_len).unwrap_or_default();
        c.push(DetailNode::new(
            format!("Options: ({} bytes)", header_len - 20),
            ipv4_option_nodes(options),
        ));
    }
    c.push(DetailNode::leaf(format!("Source Address: {src}")));
    c.push(DetailNode::leaf(format!("Destination Address: {dst}")));
    if header_len < 20 || header_len > bytes.len() {
        c.push(DetailNode::leaf(
            "[Malformed: header length inconsistent with the capture]",
        ));
    } else if usize::from(total_len) > bytes.len() {
        c.push(DetailNode::leaf(format!(
            "[{} bytes of this datagram not captured]",
            usize::from(total_len) - bytes.len()
        )));
    }
    let is_fragment = mf || frag_offset != 0;
    if is_fragment {
        let data = usize::from(total_len).saturating_sub(header_len);
        c.push(DetailNode::leaf(format!(
            "[Fragment of datagram 0x{id:04x}: offset {}, {data} bytes{}]",
            u32::from(frag_offset) * 8,
            if mf { ", more follow" } else { ", last" }
        )));
    }
    nodes.push(DetailNode::new(
        format!("Internet Protocol Version 4, Src: {src}, Dst: {dst}"),
        c,
    ));
    if !is_fragment {
        transport_nodes(ip::general(Network::Ipv4(bytes)), protocol, nodes);
    } else {
        nodes.push(DetailNode::leaf(format!(
            "Fragment data ({} bytes) — {} is reassembled when all fragments have arrived",
            usize::from(total_len).saturating_sub(header_len),
            protocol_name(protocol)
        )));
    }
}

fn ipv4_option_nodes(options: &[u8]) -> Vec<DetailNode> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(&kind) = options.get(at) {
        let name = match kind {
            0 => "End of Options List (EOL)",
            1 => "No-Operation (NOP)",
            7 => "Record Route",
            68 => "Time Stamp",
            130 => "Security",
            131 => "Loose Source Route",
            137 => "Strict Source Route",
            148 => "Router Alert",
            _ => "Unknown",
        };
        let len = if kind <= 1 {
            1
        } else {
            usize::from(options.get(at + 1).copied().unwrap_or(0))
        };
        out.push(DetailNode::leaf(format!("IP Option - {name} ({kind})")));
        if kind == 0 {
            break;
        }
        if len < 2 && kind > 1 {
            out.push(DetailNode::leaf("[Malformed option length]"));
            break;
        }
        at += len;
    }
    out
}

fn ipv6_nodes(bytes: &[u8], nodes: &mut Vec<DetailNode>) {
    let Some(fixed) = bytes.first_chunk::<40>() else {
        nodes.push(DetailNode::leaf(format!(
            "Internet Protocol Version 6 [Malformed: header cut short, {} of 40 bytes]",
            bytes.len()
        )));
        return;
    };
    let first_word = u32::from_be_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]);
    let traffic_class = ((first_word >> 20) & 0xff) as u8;
    let flow = first_word & 0x000f_ffff;
    let payload_len = be16(fixed, 4);
    let next = fixed[6];
    let src = Ipv6Addr::from(addr16(fixed, 8));
    let dst = Ipv6Addr::from(addr16(fixed, 24));
    let mut c = vec![
        DetailNode::leaf(format!(
            "{} = Version: {}",
            bits(u64::from(first_word >> 24), 8, 0, 4),
            first_word >> 28
        )),
        DetailNode::leaf(format!(
            "{} = Traffic Class: {}",
            bits(first_word.into(), 32, 4, 8),
            ds_field(traffic_class)
        )),
        DetailNode::leaf(format!(
            "{} = Flow Label: 0x{flow:05x}",
            bits(first_word.into(), 32, 12, 20)
        )),
        DetailNode::leaf(format!("Payload Length: {payload_len}")),
        DetailNode::leaf(format!("Next Header: {} ({next})", protocol_name(next))),
        DetailNode::leaf(format!("Hop Limit: {}", fixed[7])),
        DetailNode::leaf(format!("Source Address: {src}")),
        DetailNode::leaf(format!("Destination Address: {dst}")),
    ];
    // Extension headers, as far as they were captured.
    let rest = bytes.get(40..).unwrap_or_default();
    let mut kind = next;
    let mut at = 0usize;
    let mut fragmented = false;
    for _ in 0..16 {
        let Some(&[nh, len_field]) = rest.get(at..at + 2) else {
            break;
        };
        let (len, extra) = match kind {
            0 | 43 | 60 | 135 | 139 | 140 => (usize::from(len_field) * 8 + 8, Vec::new()),
            51 => (usize::from(len_field) * 4 + 8, Vec::new()),
            44 => {
                let off = be16(rest, at + 2);
                let id = be32(rest, at + 4);
                fragmented |= off & 0xfff9 != 0;
                (
                    8,
                    vec![
                        DetailNode::leaf(format!("Offset: {}", (off >> 3) * 8)),
                        DetailNode::leaf(format!("More Fragments: {}", off & 1 != 0)),
                        DetailNode::leaf(format!("Identification: 0x{id:08x}")),
                    ],
                )
            }
            _ => break,
        };
        let mut children = vec![
            DetailNode::leaf(format!("Next Header: {} ({nh})", protocol_name(nh))),
            DetailNode::leaf(format!("Length: {len} bytes")),
        ];
        children.extend(extra);
        c.push(DetailNode::new(protocol_name(kind), children));
        kind = nh;
        at += len;
    }
    if usize::from(payload_len) + 40 > bytes.len() {
        c.push(DetailNode::leaf(format!(
            "[{} bytes of this packet not captured]",
            usize::from(payload_len) + 40 - bytes.len()
        )));
    }
    nodes.push(DetailNode::new(
        format!("Internet Protocol Version 6, Src: {src}, Dst: {dst}"),
        c,
    ));
    if fragmented {
        nodes.push(DetailNode::leaf(
            "Fragment data — reassembled when all fragments have arrived",
        ));
    } else {
        transport_nodes(ip::general(Network::Ipv6(bytes)), kind, nodes);
    }
}

fn addr16(b: &[u8; 40], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    if let Some(src) = b.get(at..at + 16) {
        a.copy_from_slice(src);
    }
    a
}

fn transport_nodes(outcome: IpOutcome<'_>, protocol: u8, nodes: &mut Vec<DetailNode>) {
    match outcome {
        IpOutcome::Tcp(carrier) => match TcpView::new_checked(carrier.captured) {
            Some(tcp) => nodes.push(tcp_node(&tcp, carrier.wire_len)),
            None => nodes.push(DetailNode::leaf(format!(
                "Transmission Control Protocol [Malformed: header cut short or bad data \
                 offset, {} bytes]",
                carrier.captured.len()
            ))),
        },
        IpOutcome::NotTcp => nodes.push(DetailNode::leaf(format!(
            "{} ({protocol}) payload, not decoded",
            protocol_name(protocol)
        ))),
        IpOutcome::Malformed => nodes.push(DetailNode::leaf("[Malformed IP packet]")),
        IpOutcome::Broken(bad) => {
            nodes.push(DetailNode::leaf(format!("[Malformed: {}]", bad.problem)))
        }
        IpOutcome::Fragment(_) => {}
    }
}

fn tcp_node(tcp: &TcpView<'_>, wire_len: usize) -> DetailNode {
    let header_len = tcp.header_len();
    let wire_payload = wire_len.saturating_sub(header_len);
    let captured_payload = tcp.payload().len().min(wire_payload);
    let flags = u32::from(tcp.flags().0);
    let mut c = vec![
        DetailNode::leaf(format!("Source Port: {}", tcp.src_port())),
        DetailNode::leaf(format!("Destination Port: {}", tcp.dst_port())),
        DetailNode::leaf(format!("[TCP Segment Len: {wire_payload}]")),
        DetailNode::leaf(format!("Sequence Number (raw): {}", tcp.seq())),
        DetailNode::leaf(format!("Acknowledgment Number (raw): {}", tcp.ack())),
        DetailNode::leaf(format!(
            "{} .... = Header Length: {header_len} bytes ({})",
            bits((header_len / 4) as u64, 4, 0, 4),
            header_len / 4
        )),
        flags_node(flags),
        DetailNode::leaf(match tcp.window() {
            Some(w) => format!("Window: {w}"),
            None => "Window: [not captured]".to_string(),
        }),
        DetailNode::leaf(match tcp.checksum() {
            Some(c) => format!("Checksum: 0x{c:04x} [unverified]"),
            None => "Checksum: [not captured]".to_string(),
        }),
        DetailNode::leaf(match tcp.urgent() {
            Some(u) => format!("Urgent Pointer: {u}"),
            None => "Urgent Pointer: [not captured]".to_string(),
        }),
    ];
    if header_len > 20 {
        let options = option_nodes(tcp.options());
        let summary: Vec<String> = options
            .iter()
            .map(|n| n.text.trim_start_matches("TCP Option - ").to_string())
            .map(|t| t.split(':').next().unwrap_or_default().to_string())
            .collect();
        let mut text = format!("Options: ({} bytes)", header_len - 20);
        if !summary.is_empty() {
            let _ = write!(text, ", {}", summary.join(", "));
        }
        let mut options = options;
        if tcp.header_truncated() {
            options.push(DetailNode::leaf("[Options cut short by the snaplen]"));
        }
        c.push(DetailNode::new(text, options));
    }
    if wire_payload > 0 {
        c.push(DetailNode::leaf(format!(
            "TCP payload ({wire_payload} bytes)"
        )));
        if captured_payload < wire_payload {
            c.push(DetailNode::leaf(format!(
                "[{} payload bytes not captured]",
                wire_payload - captured_payload
            )));
        }
    }
    DetailNode::new(
        format!(
            "Transmission Control Protocol, Src Port: {}, Dst Port: {}, Seq: {}, Ack: {}, Len: {}",
            tcp.src_port(),
            tcp.dst_port(),
            tcp.seq(),
            tcp.ack(),
            wire_payload
        ),
        c,
    )
}

fn flags_node(flags: u32) -> DetailNode {
    const NAMES: [(u32, &str, &str, char); 9] = [
        (0x100, "Accurate ECN", "AE", 'N'),
        (0x080, "Congestion Window Reduced", "CWR", 'C'),
        (0x040, "ECN-Echo", "ECE", 'E'),
        (0x020, "Urgent", "URG", 'U'),
        (0x010, "Acknowledgment", "ACK", 'A'),
        (0x008, "Push", "PSH", 'P'),
        (0x004, "Reset", "RST", 'R'),
        (0x002, "Syn", "SYN", 'S'),
        (0x001, "Fin", "FIN", 'F'),
    ];
    let mut children = vec![DetailNode::leaf(format!(
        "{} = Reserved: {}",
        bits(flags.into(), 12, 0, 3),
        set(flags & 0xe00 != 0)
    ))];
    let mut names = Vec::new();
    // Wireshark's compact form: three reserved positions, then one per flag.
    let mut compact: String = "···".into();
    for (i, (bit, long, short, letter)) in NAMES.iter().enumerate() {
        let on = flags & bit != 0;
        children.push(DetailNode::leaf(format!(
            "{} = {long}: {}",
            bits(flags.into(), 12, 3 + i as u32, 1),
            set(on)
        )));
        if on {
            names.push(*short);
        }
        compact.push(if on { *letter } else { '·' });
    }
    children.push(DetailNode::leaf(format!("[TCP Flags: {compact}]")));
    // Wireshark names the set flags from the lowest bit up: "(SYN, ACK)", "(PSH, ACK)".
    names.reverse();
    DetailNode::new(
        format!(
            "Flags: 0x{flags:03x}{}",
            if names.is_empty() {
                String::new()
            } else {
                format!(" ({})", names.join(", "))
            }
        ),
        children,
    )
}

fn option_nodes(options: &[u8]) -> Vec<DetailNode> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(&kind) = options.get(at) {
        match kind {
            0 => {
                out.push(DetailNode::leaf("TCP Option - End of Option List (EOL)"));
                break;
            }
            1 => {
                out.push(DetailNode::leaf("TCP Option - No-Operation (NOP)"));
                at += 1;
                continue;
            }
            _ => {}
        }
        let len = usize::from(options.get(at + 1).copied().unwrap_or(0));
        let Some(value) = options.get(at + 2..at + len.max(2)).filter(|_| len >= 2) else {
            out.push(DetailNode::leaf(format!(
                "TCP Option - kind {kind} (malformed or cut short)"
            )));
            break;
        };
        let text = match (kind, value.len()) {
            (2, 2) => format!("Maximum segment size: {} bytes", be16(value, 0)),
            (3, 1) => {
                let shift = value.first().copied().unwrap_or(0);
                format!(
                    "Window scale: {shift} (multiply by {})",
                    1u64.checked_shl(shift.into()).unwrap_or(0)
                )
            }
            (4, 0) => "SACK permitted".to_string(),
            (5, n) if n % 8 == 0 => {
                let blocks: Vec<String> = value
                    .chunks_exact(8)
                    .map(|b| format!("{}-{}", be32(b, 0), be32(b, 4)))
                    .collect();
                format!("SACK: {}", blocks.join(" "))
            }
            (8, 8) => format!(
                "Timestamps: TSval {}, TSecr {}",
                be32(value, 0),
                be32(value, 4)
            ),
            (28, 2) => format!("User Timeout: {}", be16(value, 0)),
            (29, _) => "TCP-AO".to_string(),
            (30, _) => "Multipath TCP".to_string(),
            (34, _) => "TCP Fast Open Cookie".to_string(),
            _ => format!("Unknown (kind {kind}, {len} bytes)"),
        };
        out.push(DetailNode::leaf(format!("TCP Option - {text}")));
        at += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Ipv4Spec, Ipv6Spec, ethernet, tcp_bytes};
    use super::*;
    use crate::source::LinkType;
    use crate::time::Timestamp;

    fn frame(link_type: LinkType, data: &[u8], orig_len: u32) -> Frame<'_> {
        Frame {
            index: 5,
            ts: Timestamp(1_700_000_000_000_000_001),
            link_type,
            interface: 0,
            orig_len,
            data,
        }
    }

    fn texts(nodes: &[DetailNode]) -> String {
        DetailNode::render(nodes)
    }

    #[test]
    fn ethernet_ipv4_tcp_tree() {
        // SYN with MSS, SACK permitted, timestamps, NOP, window scale: a 40-byte header.
        let mut tcp = tcp_bytes(80, 1000, 40, b"");
        tcp[13] = 0x02;
        tcp[20..40].copy_from_slice(&[
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 7,
        ]);
        let f = ethernet(&[], 0x0800, &Ipv4Spec::tcp(&tcp).build());
        let nodes = describe(&frame(LinkType::ETHERNET, &f, 74));
        let t = texts(&nodes);
        assert!(
            t.contains("Frame 5: 74 bytes on wire (592 bits), 74 bytes captured (592 bits)"),
            "{t}"
        );
        assert!(
            t.contains("Epoch Arrival Time: 1700000000.000000001 seconds"),
            "{t}"
        );
        assert!(
            t.contains("Ethernet II, Src: 02:00:00:00:00:01, Dst: 02:00:00:00:00:02"),
            "{t}"
        );
        assert!(t.contains("Type: IPv4 (0x0800)"), "{t}");
        assert!(
            t.contains("Internet Protocol Version 4, Src: 10.0.0.1, Dst: 10.0.0.2"),
            "{t}"
        );
        assert!(t.contains("0100 .... = Version: 4"), "{t}");
        assert!(t.contains(".... 0101 = Header Length: 20 bytes (5)"), "{t}");
        assert!(t.contains("Flags: 0x2, Don't fragment"), "{t}");
        assert!(t.contains(".1.. .... = Don't fragment: Set"), "{t}");
        assert!(t.contains("Time to Live: 64"), "{t}");
        assert!(t.contains("Protocol: TCP (6)"), "{t}");
        assert!(t.contains("[correct]"), "{t}");
        assert!(
            t.contains(
                "Transmission Control Protocol, Src Port: 51000, Dst Port: 80, Seq: 1000, Ack: 7, Len: 0"
            ),
            "{t}"
        );
        assert!(t.contains("Flags: 0x002 (SYN)"), "{t}");
        assert!(t.contains(".... .... ..1. = Syn: Set"), "{t}");
        assert!(t.contains("[TCP Flags: ··········S·]"), "{t}");
        assert!(
            t.contains("1010 .... = Header Length: 40 bytes (10)"),
            "{t}"
        );
        assert!(
            t.contains("Options: (20 bytes), Maximum segment size, SACK permitted, Timestamps, No-Operation (NOP), Window scale"),
            "{t}"
        );
        assert!(
            t.contains("TCP Option - Maximum segment size: 1460 bytes"),
            "{t}"
        );
        assert!(
            t.contains("TCP Option - Window scale: 7 (multiply by 128)"),
            "{t}"
        );
        assert!(
            t.contains("TCP Option - Timestamps: TSval 9, TSecr 0"),
            "{t}"
        );
        assert_eq!(nodes.len(), 4);
    }

    #[test]
    fn truncated_and_bad_checksum_are_marked() {
        let tcp = tcp_bytes(80, 1, 20, &[b'x'; 100]);
        let mut ip = Ipv4Spec::tcp(&tcp).build();
        ip[10] ^= 0xff;
        let f = ethernet(&[(0x8100, 100)], 0x0800, &ip);
        let nodes = describe(&frame(LinkType::ETHERNET, &f[..80], f.len() as u32));
        let t = texts(&nodes);
        assert!(
            t.contains("[Packet size limited during capture: 78 bytes not captured]"),
            "{t}"
        );
        assert!(
            t.contains("802.1Q Virtual LAN, PRI: 0, DEI: 0, ID: 100"),
            "{t}"
        );
        assert!(t.contains("[incorrect, should be 0x"), "{t}");
        assert!(t.contains("Len: 100"), "{t}");
        assert!(t.contains("[78 payload bytes not captured]"), "{t}");
        assert!(t.contains("Flags: 0x018 (PSH, ACK)"), "{t}");
    }

    #[test]
    fn ipv6_sll2_and_other_links() {
        let tcp = tcp_bytes(8080, 5, 20, b"hi");
        let ip = Ipv6Spec::tcp(&tcp).dest_options(8).build();
        let mut sll2 = vec![
            0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0x03, 0x04, 4, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        sll2.extend_from_slice(&ip);
        let t = texts(&describe(&frame(
            LinkType::LINUX_SLL2,
            &sll2,
            sll2.len() as u32,
        )));
        assert!(t.contains("Linux cooked capture v2"), "{t}");
        assert!(t.contains("Link-layer address type: Loopback (772)"), "{t}");
        assert!(
            t.contains("Internet Protocol Version 6, Src: 2001:db8::1, Dst: 2001:db8::2"),
            "{t}"
        );
        assert!(
            t.contains("Next Header: Destination Options for IPv6 (60)"),
            "{t}"
        );
        assert!(t.contains("Destination Options for IPv6"), "{t}");
        assert!(t.contains("Dst Port: 8080"), "{t}");
        assert!(t.contains("TCP payload (2 bytes)"), "{t}");

        let t = texts(&describe(&frame(LinkType(147), &[1, 2], 2)));
        assert!(t.contains("Unsupported link type unknown (147)"), "{t}");
        let t = texts(&describe(&frame(LinkType::NULL, &[2, 0, 0, 0, 0x45], 5)));
        assert!(t.contains("Family: IP (2), little-endian"), "{t}");
        assert!(t.contains("header cut short"), "{t}");
        let arp = ethernet(&[], 0x0806, &[0; 28]);
        let t = texts(&describe(&frame(LinkType::ETHERNET, &arp, 42)));
        assert!(
            t.contains("Type: ARP (0x0806)") && t.contains("Not an IP packet"),
            "{t}"
        );
    }

    #[test]
    fn fragments_and_udp_are_named_not_decoded() {
        let frag = Ipv4Spec::tcp(&[0; 24]).fragment(7, 3, true).build();
        let t = texts(&describe(&frame(LinkType::RAW, &frag, frag.len() as u32)));
        assert!(t.contains("Flags: 0x1, More fragments"), "{t}");
        assert!(t.contains("Fragment Offset: 24"), "{t}");
        assert!(t.contains("Fragment data (24 bytes)"), "{t}");
        let udp = Ipv4Spec::tcp(&[0; 8]).protocol(17).build();
        let t = texts(&describe(&frame(LinkType::IPV4, &udp, 28)));
        assert!(t.contains("UDP (17) payload, not decoded"), "{t}");
    }

    #[test]
    fn bit_notation() {
        assert_eq!(bits(0x45, 8, 0, 4), "0100 ....");
        assert_eq!(bits(0x45, 8, 4, 4), ".... 0101");
        assert_eq!(bits(0x018, 12, 7, 1), ".... ...1 ....");
        assert_eq!(bits(0x018, 12, 8, 1), ".... .... 1...");
        // A WebSocket frame's first bytes, as `report::verbose` draws them.
        assert_eq!(bits(0x81, 8, 0, 1), "1... ....");
        assert_eq!(bits(0x81, 8, 4, 4), ".... 0001");
        assert_eq!(bits(0x85, 8, 1, 7), ".000 0101");
    }

    #[test]
    fn hostile_options_do_not_panic() {
        for opts in [
            &[2u8][..],
            &[2, 0],
            &[2, 1],
            &[5, 3, 0],
            &[3, 3, 200],
            &[8, 255, 0, 0],
            &[1, 1, 1, 0, 9],
        ] {
            let _ = option_nodes(opts);
            let _ = ipv4_option_nodes(opts);
        }
        assert_eq!(
            option_nodes(&[3, 3, 200])[0].text,
            "TCP Option - Window scale: 200 (multiply by 0)"
        );
    }
}
