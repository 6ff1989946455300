//! Builds a large benchmark capture from small real ones: every template flow is replayed many
//! times with the endpoints' addresses renumbered (so each copy is a distinct flow), copies
//! interleaved packet by packet so that many flows are open at once, as on a busy link.
//!
//! `cargo run --release --example bigcap -- OUT.pcap SIZE_MIB CONCURRENT TEMPLATE.pcap...`
//!
//! Templates must be Ethernet pcap files (what tcpdump writes on Linux loopback). Checksums are
//! not recomputed (neither sockscope nor tshark verify them by default).

use anyhow::{Context, Result, bail};
use sockscope::source::{self, LinkType, PcapWriter};
use sockscope::time::Timestamp;
use std::path::Path;

fn renumber(data: &mut [u8], copy: u32) {
    let ethertype = match data.get(12..14) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => return,
    };
    let [_, a, b, c] = copy.to_be_bytes();
    match ethertype {
        0x0800 => {
            // IPv4: the first three bytes of both addresses become the copy number, the last
            // byte is kept so that client and server stay distinct.
            for off in [14 + 12, 14 + 16] {
                if let Some(addr) = data.get_mut(off..off + 3) {
                    addr.copy_from_slice(&[10 + (a & 0x3f), b, c]);
                }
            }
        }
        0x86dd => {
            for off in [14 + 8, 14 + 24] {
                if let Some(addr) = data.get_mut(off + 10..off + 14) {
                    addr.copy_from_slice(&[0, a, b, c]);
                }
            }
        }
        _ => {}
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        bail!("usage: bigcap OUT.pcap SIZE_MIB CONCURRENT TEMPLATE.pcap...");
    }
    let out = &args[0];
    let size: u64 = args[1].parse::<u64>().context("SIZE_MIB")? << 20;
    let concurrent: usize = args[2].parse().context("CONCURRENT")?;
    let mut templates: Vec<Vec<Vec<u8>>> = Vec::new();
    for path in &args[3..] {
        let mut src = source::open(path, 1).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut packets = Vec::new();
        while let Some(frame) = src.next_frame().map_err(|e| anyhow::anyhow!("{e}"))? {
            if frame.link_type != LinkType::ETHERNET {
                bail!("{path}: only Ethernet templates are supported");
            }
            packets.push(frame.data.to_vec());
        }
        templates.push(packets);
    }
    if templates.iter().all(Vec::is_empty) {
        bail!("the templates hold no packets");
    }
    let mut writer = PcapWriter::create(Path::new(out), LinkType::ETHERNET, 262_144)
        .with_context(|| format!("creating {out}"))?;
    let (mut written, mut copy) = (0u64, 0u32);
    let mut ts = Timestamp::from_secs_nanos(1_700_000_000, 0);
    // Slots of concurrently replayed flows: (template index, next packet, copy number).
    let mut slots: Vec<(usize, usize, u32)> = Vec::new();
    let mut buf = Vec::new();
    while written < size {
        while slots.len() < concurrent {
            slots.push((copy as usize % templates.len(), 0, copy));
            copy += 1;
        }
        let mut i = 0;
        while i < slots.len() && written < size {
            let (t, next, c) = slots[i];
            let Some(data) = templates[t].get(next) else {
                slots.swap_remove(i);
                continue;
            };
            buf.clear();
            buf.extend_from_slice(data);
            renumber(&mut buf, c);
            ts = Timestamp(ts.0 + 3_000);
            let len = buf.len() as u32;
            writer.write_packet(ts, len, &buf)?;
            written += 16 + u64::from(len);
            slots[i].1 += 1;
            i += 1;
        }
    }
    writer.flush()?;
    eprintln!("wrote {out}: {} MiB, {copy} flow copies", written >> 20);
    Ok(())
}
