//! A TPACKET_V3 ring block of arbitrary bytes: walking it and preparing every packet it
//! describes (in each framing) must never panic or touch memory outside the block.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::live::ring::{BlockWalker, Framing, prepare};

fuzz_target!(|data: &[u8]| {
    for framing in [Framing::Ethernet, Framing::Raw, Framing::CookedSll2] {
        let mut block = data.to_vec();
        let mut walker = BlockWalker::new(&block);
        while let Some(header) = walker.next_packet(&block) {
            if let Ok(p) = prepare(&mut block, &header, framing) {
                assert!(p.start <= p.end && p.end <= block.len());
            }
        }
    }
});
