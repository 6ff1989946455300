//! Fuzz target for terminal safety: arbitrary bytes read as a capture and printed by the text
//! views a person reads on a terminal (summary lines with `-V` and `-x`, then the tables;
//! `--follow 1`; `--ladder 1`), colour on. Whatever the bytes, the output must hold no control, C1, bidi or
//! invisible format character other than the printer's own line ends, tabs and SGR colour codes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::config::{Config, PortFilter};
use sockscope::pipeline::Analyzer;
use sockscope::report::Reporter;
use sockscope::report::escape::is_safe;
use sockscope::report::follow::FollowPrinter;
use sockscope::report::ladder::LadderPrinter;
use sockscope::report::text::{TextOptions, TextPrinter};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

#[derive(Clone, Default)]
struct Sink(Rc<RefCell<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Panics on anything but SGR sequences after ESC, and on any unsafe character.
fn assert_clean(out: &[u8]) {
    let text = std::str::from_utf8(out).expect("text views write UTF-8");
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            assert_eq!(chars.next(), Some('['), "ESC not starting an SGR sequence");
            loop {
                match chars.next() {
                    Some('m') => break,
                    Some(d) if d.is_ascii_digit() || d == ';' => {}
                    other => panic!("not an SGR sequence: {other:?}"),
                }
            }
        } else {
            assert!(
                c == '\n' || is_safe(c),
                "raw U+{:04X} on the terminal",
                c as u32
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let config = Config {
        ports: PortFilter::Any,
        ..Config::default()
    };
    let views: [fn(Sink) -> Box<dyn Reporter>; 3] = [
        |s| {
            let opts = TextOptions {
                verbose: true,
                hex: true,
                color: true,
                ..TextOptions::default()
            };
            Box::new(TextPrinter::new(s, opts))
        },
        |s| Box::new(FollowPrinter::new(s, 1, true, 32)),
        |s| Box::new(LadderPrinter::new(s, 1, true, 32)),
    ];
    for view in views {
        let sink = Sink::default();
        let mut analyzer = Analyzer::new(&config, view(sink.clone()));
        let mut source = sockscope::source::from_bytes("fuzz", data, 1);
        let _ = analyzer.run(&mut source);
        let _ = analyzer.finish();
        assert_clean(&sink.0.borrow());
    }
});
