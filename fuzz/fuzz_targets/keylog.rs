//! Fuzz target for the NSS key log parser: arbitrary bytes fed whole and in arbitrary pieces
//! (byte 0 gives the piece size) must never panic, must give the same store both ways, and
//! must keep the unfinished-line buffer bounded.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::proto::tls::KeyLog;
use sockscope::proto::tls::keylog::{LineSplitter, MAX_LINE};

fuzz_target!(|data: &[u8]| {
    let Some((&piece, text)) = data.split_first() else {
        return;
    };
    let mut whole = KeyLog::with_limit(64);
    whole.add_text(text);
    let mut pieces = KeyLog::with_limit(64);
    let mut lines = LineSplitter::default();
    for chunk in text.chunks(usize::from(piece) + 1) {
        lines.push(chunk, &mut pieces);
        assert!(lines.pending() <= MAX_LINE);
    }
    lines.finish(&mut pieces);
    assert_eq!(whole.stats(), pieces.stats());
    assert_eq!(whole.len(), pieces.len());
    assert!(whole.len() <= 64);
    if text.len() >= 32 {
        let cr: [u8; 32] = text[..32].try_into().unwrap_or([0; 32]);
        assert_eq!(whole.get(&cr), pieces.get(&cr));
    }
});
