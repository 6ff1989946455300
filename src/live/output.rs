//! Stdout for a live run: buffered like `read`'s, but flushed at the end of every batch of
//! packets (each ring block, and whenever the capture waits for traffic), so that
//! `sockscope live --json | jq` sees records as they happen without paying a write per line.
//!
//! The reporter writes through one handle; the capture loop flushes through another. A failed
//! flush (a closed pipe) is remembered and returned by the reporter's next write, so the
//! pipeline stops the usual way.

use std::cell::RefCell;
use std::io::{self, BufWriter, Write};
use std::rc::Rc;

struct Shared<W: Write> {
    out: BufWriter<W>,
    /// The first flush error, replayed to the writer (io::Error is not Clone).
    failed: Option<(io::ErrorKind, String)>,
}

/// A buffered writer shared by the reporter and the capture loop.
pub struct BatchedOutput<W: Write> {
    shared: Rc<RefCell<Shared<W>>>,
}

impl<W: Write> Clone for BatchedOutput<W> {
    fn clone(&self) -> Self {
        BatchedOutput {
            shared: Rc::clone(&self.shared),
        }
    }
}

impl<W: Write> BatchedOutput<W> {
    pub fn new(out: W) -> Self {
        BatchedOutput {
            shared: Rc::new(RefCell::new(Shared {
                out: BufWriter::with_capacity(64 << 10, out),
                failed: None,
            })),
        }
    }

    /// Flushes what the batch produced. Returns false once output has failed: the capture
    /// should stop.
    pub fn flush_batch(&self) -> bool {
        let Ok(mut s) = self.shared.try_borrow_mut() else {
            return true;
        };
        if s.failed.is_some() {
            return false;
        }
        if let Err(e) = s.out.flush() {
            s.failed = Some((e.kind(), e.to_string()));
            return false;
        }
        true
    }

    fn replay(s: &Shared<W>) -> io::Result<()> {
        match &s.failed {
            Some((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
            None => Ok(()),
        }
    }
}

impl<W: Write> Write for BatchedOutput<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = self
            .shared
            .try_borrow_mut()
            .map_err(|_| io::Error::other("output busy"))?;
        Self::replay(&s)?;
        s.out.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut s = self
            .shared
            .try_borrow_mut()
            .map_err(|_| io::Error::other("output busy"))?;
        Self::replay(&s)?;
        s.out.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut s = self
            .shared
            .try_borrow_mut()
            .map_err(|_| io::Error::other("output busy"))?;
        Self::replay(&s)?;
        s.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that records each write call, or fails every call.
    #[derive(Clone, Default)]
    struct Sink {
        writes: Rc<RefCell<Vec<Vec<u8>>>>,
        broken: bool,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.broken {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.writes.borrow_mut().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_reach_the_sink_only_at_batch_ends() {
        let sink = Sink::default();
        let out = BatchedOutput::new(sink.clone());
        let mut reporter = out.clone();
        writeln!(reporter, "{{\"type\":\"http\"}}").unwrap();
        writeln!(reporter, "{{\"type\":\"ws_frame\"}}").unwrap();
        assert!(sink.writes.borrow().is_empty());
        assert!(out.flush_batch());
        assert_eq!(
            sink.writes.borrow().concat(),
            b"{\"type\":\"http\"}\n{\"type\":\"ws_frame\"}\n"
        );
        assert_eq!(sink.writes.borrow().len(), 1, "one write per batch");
        // Nothing new: no write at all.
        assert!(out.flush_batch());
        assert_eq!(sink.writes.borrow().len(), 1);
    }

    #[test]
    fn a_failed_flush_stops_the_capture_and_reaches_the_reporter() {
        let sink = Sink {
            broken: true,
            ..Sink::default()
        };
        let out = BatchedOutput::new(sink);
        let mut reporter = out.clone();
        writeln!(reporter, "x").unwrap();
        assert!(!out.flush_batch());
        assert!(!out.flush_batch());
        let e = writeln!(reporter, "y").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(
            reporter.flush().unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    }
}
