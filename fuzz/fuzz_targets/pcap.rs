//! Arbitrary bytes as a capture file: read every frame (pcap or pcapng, whichever the magic
//! says), decode each one and describe it. Nothing may panic, and frames must stay consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::decode::{Decoder, describe};
use sockscope::source::{PacketSource, from_bytes};

fuzz_target!(|data: &[u8]| {
    let mut source = from_bytes("fuzz", data, 1);
    let mut decoder = Decoder::new();
    let mut expected_index = 1;
    while let Ok(Some(frame)) = source.next_frame() {
        assert_eq!(frame.index, expected_index);
        assert!(frame.orig_len as usize >= frame.data.len());
        expected_index += 1;
        let _ = decoder.decode(&frame);
        let _ = decoder.take_new_unknown_link();
        let _ = describe(&frame);
    }
    let progress = source.progress();
    assert!(progress.bytes_done <= data.len() as u64);
});
