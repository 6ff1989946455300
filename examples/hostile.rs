//! Writes a hostile capture: `FLOWS` flows of one trigger of the memory budget (incomplete
//! heads, held upgrade bytes, unanswered requests, unfinished or compressed messages,
//! out-of-order data). The `hostile` shapes of `benches/run.sh`; the shapes are described in
//! `tests/common/hostile.rs`, which `tests/budget.rs` uses with smaller counts.
//!
//! `cargo run --release --example hostile -- OUT.pcap SHAPE FLOWS [SIZE]`
//!
//! `SIZE` is the size of each flow's incomplete head, held tail or unfinished message (the
//! number of requests for `pipelined`); by default the (60 000 bytes, 1 100 requests).

#[path = "../tests/common/mod.rs"]
mod common;

use anyhow::{Context, Result, bail};
use common::hostile::{Shape, write};
use std::io::BufWriter;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, shape, flows, per_flow) = match args.as_slice() {
        [out, shape, flows] => (out, shape, flows, None),
        [out, shape, flows, per_flow] => (out, shape, flows, Some(per_flow)),
        _ => {
            let names: Vec<&str> = Shape::ALL.iter().map(|s| s.name()).collect();
            bail!(
                "usage: hostile OUT.pcap SHAPE FLOWS [SIZE] (shapes: {})",
                names.join(", ")
            );
        }
    };
    let Some(shape) = Shape::parse(shape) else {
        bail!("unknown shape {shape}");
    };
    let flows: usize = flows.parse().context("FLOWS")?;
    let per_flow = match per_flow {
        Some(n) => n.parse().context("SIZE")?,
        None => shape.default_size(),
    };
    let file = std::fs::File::create(out).with_context(|| format!("creating {out}"))?;
    let mut file = BufWriter::new(file);
    write(shape, flows, per_flow, &mut file).with_context(|| format!("writing {out}"))?;
    std::io::Write::flush(&mut file)?;
    Ok(())
}
