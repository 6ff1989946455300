//! Fuzz target for the whole analysis: arbitrary bytes read as a capture file (pcap or pcapng)
//! and run through decode → TCP → HTTP/WebSocket → JSON printer, with every port analyzed by
//! content. It must never panic, whatever the bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::config::{Config, PortFilter};
use sockscope::pipeline::Analyzer;
use sockscope::report::json::JsonPrinter;

fuzz_target!(|data: &[u8]| {
    let config = Config { ports: PortFilter::Any, ..Config::default() };
    let printer = JsonPrinter::new(std::io::sink(), 16, None);
    let mut analyzer = Analyzer::new(&config, printer);
    let mut source = sockscope::source::from_bytes("fuzz", data, 1);
    let _ = analyzer.run(&mut source);
    let _ = analyzer.finish();
});
