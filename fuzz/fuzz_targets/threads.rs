//! Differential fuzz target for `--threads N`: arbitrary bytes read as a capture and analyzed
//! with 1, 2 and 3 threads must print the same, byte for byte, in JSON (whose lines the workers
//! write) and in the text view with `-V -x` (which replays every packet), summary included. The
//! inputs are far too small to reach a cap that each worker holds a share of (the memory budget,
//! `--max-flows`), the one place where threads may differ.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::config::{Config, PortFilter};
use sockscope::pipeline::Analyzer;
use sockscope::report::Reporter;
use sockscope::report::json::JsonPrinter;
use sockscope::report::text::{TextOptions, TextPrinter};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut out) = self.0.lock() {
            out.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything one view prints of `data` analyzed in `threads` threads.
fn printed(data: &[u8], threads: usize, view: fn(Sink) -> Box<dyn Reporter>) -> Vec<u8> {
    let config = Config {
        ports: PortFilter::Any,
        threads,
        ..Config::default()
    };
    let sink = Sink::default();
    let mut analyzer = Analyzer::new(&config, view(sink.clone()));
    let mut source = sockscope::source::from_bytes("fuzz", data, 1);
    let read = analyzer.run(&mut source).is_ok();
    if let Ok((stats, mut reporter)) = analyzer.finish() {
        let _ = reporter.finish(&stats);
    }
    let mut out = sink.0.lock().map(|o| o.clone()).unwrap_or_default();
    out.push(u8::from(read));
    out
}

fuzz_target!(|data: &[u8]| {
    let views: [fn(Sink) -> Box<dyn Reporter>; 2] = [
        |s| Box::new(JsonPrinter::new(s, 16, None)),
        |s| {
            let opts = TextOptions {
                verbose: true,
                hex: true,
                ..TextOptions::default()
            };
            Box::new(TextPrinter::new(s, opts))
        },
    ];
    for view in views {
        let one = printed(data, 1, view);
        for threads in [2, 3] {
            let many = printed(data, threads, view);
            assert!(
                one == many,
                "--threads {threads} differs from one thread:\n{}\n---\n{}",
                String::from_utf8_lossy(&one),
                String::from_utf8_lossy(&many)
            );
        }
    }
});
