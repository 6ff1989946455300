//! One frame: the first two bytes (big-endian) are the link type, the rest is the frame.
//! Decoding and describing must not panic, and a segment's payload must lie inside the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::decode::{Decoded, Decoder, describe};
use sockscope::source::{Frame, LinkType};
use sockscope::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Some((link, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let frame = Frame {
        index: 1,
        ts: Timestamp(0),
        link_type: LinkType(u32::from(u16::from_be_bytes(*link))),
        interface: 0,
        orig_len: rest.len() as u32,
        data: rest,
    };
    let mut decoder = Decoder::new();
    if let Decoded::Tcp(segment) = decoder.decode(&frame) {
        let range = rest.as_ptr_range();
        let payload = segment.payload.as_ptr_range();
        assert!(
            segment.payload.is_empty()
                || (payload.start >= range.start && payload.end <= range.end)
        );
    }
    let _ = describe(&frame);
});
