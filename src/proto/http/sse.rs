//! Server-Sent Events: the `text/event-stream` body of a response, interpreted incrementally
//! as the WHATWG HTML standard ("Interpreting an event stream") describes it.
//!
//! Lines end with CRLF, LF or CR (a CRLF split between two inputs is one line end); a leading
//! byte-order mark is skipped; `:` starts a comment; `event`, `data`, `id` and `retry` are the
//! fields (a single space after the colon is dropped; a line without a colon is a field with an
//! empty value); a blank line dispatches the event if it had data. `data` lines are joined with
//! `\n`. Nothing but what an event shows is kept, and all of it is capped: the data to the
//! preview length, the event type and id to [`MAX_FIELD`] bytes. Lines are never buffered, so
//! memory does not depend on the input.

use crate::model::SseEvent;
use crate::time::Timestamp;

/// Bytes of an event type or id kept for display.
pub(super) const MAX_FIELD: usize = 256;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    /// Nothing of the current line seen yet.
    Start,
    /// Reading the field name (before the colon).
    Name,
    /// Reading the value; `started` once past the optional single space.
    Value { started: bool },
    /// A comment, or a line ignored while resynchronising.
    Ignored,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Data,
    Event,
    Id,
    Other,
}

#[derive(Debug)]
pub(super) struct SseParser {
    preview: usize,
    line: Line,
    name: [u8; 5],
    name_len: usize,
    field: Field,
    /// The previous byte was a CR: an LF right after it ends the same line.
    after_cr: bool,
    /// How many bytes of a leading BOM were matched; 3 once past the stream start.
    bom: usize,
    /// After a gap: ignore everything up to the next blank line.
    desync: bool,
    data: Vec<u8>,
    /// Length of the data buffer had it not been capped.
    data_len: u64,
    event: Vec<u8>,
    id_value: Vec<u8>,
    id_has_nul: bool,
    last_id: Vec<u8>,
}

impl SseParser {
    pub fn new(preview: usize) -> Self {
        SseParser {
            preview,
            line: Line::Start,
            name: [0; 5],
            name_len: 0,
            field: Field::Other,
            after_cr: false,
            bom: 0,
            desync: false,
            data: Vec::new(),
            data_len: 0,
            event: Vec::new(),
            id_value: Vec::new(),
            id_has_nul: false,
            last_id: Vec::new(),
        }
    }

    /// Heap bytes held (the event's data, type and id), for the memory budget.
    pub fn held(&self) -> usize {
        use crate::budget::vec_bytes;
        vec_bytes::<u8>(self.data.capacity())
            + vec_bytes::<u8>(self.event.capacity())
            + vec_bytes::<u8>(self.id_value.capacity())
            + vec_bytes::<u8>(self.last_id.capacity())
    }

    /// Data bytes kept for display of the event in progress.
    pub fn display_len(&self) -> usize {
        self.data.len()
    }

    /// The memory budget took the display bytes: events are shown without data from here on.
    pub fn drop_display(&mut self) {
        self.preview = 0;
        self.data = Vec::new();
    }

    /// Starts a new event stream (a new response); buffers keep their capacity.
    pub fn reset(&mut self) {
        self.line = Line::Start;
        self.name_len = 0;
        self.field = Field::Other;
        self.after_cr = false;
        self.bom = 0;
        self.desync = false;
        self.data.clear();
        self.data_len = 0;
        self.event.clear();
        self.id_value.clear();
        self.id_has_nul = false;
        self.last_id.clear();
    }

    /// Bytes of the stream are missing: the event in progress is dropped and parsing resumes
    /// after the next blank line, since the bytes after the hole start in an unknown line.
    pub fn desync(&mut self) {
        self.desync = true;
        self.line = Line::Ignored;
        self.after_cr = false;
        self.bom = BOM.len();
        self.data.clear();
        self.data_len = 0;
        self.event.clear();
    }

    /// Feeds body bytes; calls `emit` for every event dispatched.
    pub fn feed(&mut self, bytes: &[u8], ts: Timestamp, emit: &mut dyn FnMut(&SseEvent<'_>)) {
        for &b in bytes {
            if self.bom < BOM.len() {
                if BOM.get(self.bom) == Some(&b) {
                    self.bom += 1;
                    continue;
                }
                // Not a BOM after all: the bytes matched so far are ordinary line bytes.
                let matched = self.bom;
                self.bom = BOM.len();
                for &m in BOM.get(..matched).unwrap_or_default() {
                    self.line_byte(m);
                }
            }
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(ts, emit);
                }
                b'\n' => self.end_line(ts, emit),
                _ => self.line_byte(b),
            }
        }
    }

    fn line_byte(&mut self, b: u8) {
        if self.desync {
            self.line = Line::Ignored;
            return;
        }
        match self.line {
            Line::Start if b == b':' => self.line = Line::Ignored,
            Line::Start => {
                self.name_len = 0;
                self.push_name(b);
                self.line = Line::Name;
            }
            Line::Name if b == b':' => {
                self.begin_field();
                self.line = Line::Value { started: false };
            }
            Line::Name => self.push_name(b),
            Line::Value { started: false } => {
                self.line = Line::Value { started: true };
                if b != b' ' {
                    self.value_byte(b);
                }
            }
            Line::Value { started: true } => self.value_byte(b),
            Line::Ignored => {}
        }
    }

    fn push_name(&mut self, b: u8) {
        // Names longer than the longest known one ("retry") can only be unknown fields.
        if let Some(slot) = self.name.get_mut(self.name_len) {
            *slot = b;
        }
        self.name_len = self.name_len.saturating_add(1);
    }

    fn begin_field(&mut self) {
        self.field = match self.name.get(..self.name_len) {
            Some(b"data") => Field::Data,
            Some(b"event") => Field::Event,
            Some(b"id") => Field::Id,
            _ => Field::Other,
        };
        match self.field {
            Field::Event => self.event.clear(),
            Field::Id => {
                self.id_value.clear();
                self.id_has_nul = false;
            }
            Field::Data | Field::Other => {}
        }
    }

    fn value_byte(&mut self, b: u8) {
        match self.field {
            Field::Data => self.push_data(b),
            Field::Event => push_capped(&mut self.event, b, MAX_FIELD),
            Field::Id => {
                self.id_has_nul |= b == 0;
                push_capped(&mut self.id_value, b, MAX_FIELD);
            }
            Field::Other => {}
        }
    }

    fn push_data(&mut self, b: u8) {
        self.data_len = self.data_len.saturating_add(1);
        push_capped(&mut self.data, b, self.preview);
    }

    fn end_line(&mut self, ts: Timestamp, emit: &mut dyn FnMut(&SseEvent<'_>)) {
        let line = self.line;
        self.line = Line::Start;
        if self.desync {
            // Only a blank line is known to end whatever event the hole cut into.
            if line == Line::Start {
                self.desync = false;
                self.data.clear();
                self.data_len = 0;
                self.event.clear();
            }
            return;
        }
        match line {
            Line::Start => self.dispatch(ts, emit),
            Line::Name => {
                self.begin_field();
                self.end_field();
            }
            Line::Value { .. } => self.end_field(),
            Line::Ignored => {}
        }
    }

    fn end_field(&mut self) {
        match self.field {
            Field::Data => self.push_data(b'\n'),
            Field::Id if !self.id_has_nul => {
                self.last_id.clear();
                self.last_id.extend_from_slice(&self.id_value);
            }
            Field::Id | Field::Event | Field::Other => {}
        }
        self.field = Field::Other;
    }

    fn dispatch(&mut self, ts: Timestamp, emit: &mut dyn FnMut(&SseEvent<'_>)) {
        if self.data_len > 0 {
            // The data buffer ends with the LF of its last line, which the event does not carry.
            let logical = usize::try_from(self.data_len - 1).unwrap_or(usize::MAX);
            let shown = self
                .data
                .get(..logical.min(self.data.len()))
                .unwrap_or_default();
            let event = SseEvent {
                ts,
                event: (!self.event.is_empty()).then(|| utf8_prefix(&self.event)),
                id: (!self.last_id.is_empty()).then(|| utf8_prefix(&self.last_id)),
                data: shown,
                len: self.data_len - 1,
            };
            emit(&event);
        }
        self.data.clear();
        self.data_len = 0;
        self.event.clear();
    }
}

fn push_capped(buf: &mut Vec<u8>, b: u8, cap: usize) {
    if buf.len() < cap {
        buf.push(b);
    }
}

/// The longest UTF-8 prefix (a capped value may end inside a character).
fn utf8_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or_default())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Owned {
        event: Option<String>,
        id: Option<String>,
        data: String,
    }

    fn parse_split(stream: &[u8], step: usize, preview: usize) -> Vec<Owned> {
        let mut parser = SseParser::new(preview);
        let mut out = Vec::new();
        for piece in stream.chunks(step.max(1)) {
            parser.feed(piece, Timestamp::ZERO, &mut |ev| {
                out.push(Owned {
                    event: ev.event.map(str::to_owned),
                    id: ev.id.map(str::to_owned),
                    data: String::from_utf8_lossy(ev.data).into_owned(),
                })
            });
        }
        out
    }

    fn ev(event: Option<&str>, id: Option<&str>, data: &str) -> Owned {
        Owned {
            event: event.map(str::to_owned),
            id: id.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn every_line_ending_and_every_split_gives_the_same_events() {
        let stream: &[u8] =
            b"\xEF\xBB\xBF: comment\r\nevent: add\r\ndata: one\r\ndata:two\r\nid: 7\r\n\r\n\
data\ndata: x\n\n\
event:ping\rdata: {\"a\":1}\r\rretry: 10\n: only a comment\n\n\
id\r\ndata: after empty id\r\n\r\n\
data: dropped at end of stream";
        let expected = vec![
            ev(Some("add"), Some("7"), "one\ntwo"),
            ev(None, Some("7"), "\nx"),
            ev(Some("ping"), Some("7"), "{\"a\":1}"),
            ev(None, None, "after empty id"),
        ];
        for step in 1..=stream.len() {
            assert_eq!(parse_split(stream, step, 128), expected, "step {step}");
        }
    }

    #[test]
    fn blank_line_without_data_dispatches_nothing_and_resets_the_type() {
        let got = parse_split(b"event: a\n\ndata: b\n\n", 4, 64);
        assert_eq!(got, vec![ev(None, None, "b")]);
    }

    #[test]
    fn data_is_capped_at_the_preview_and_fields_at_their_cap() {
        let mut stream = b"event: ".to_vec();
        stream.extend(std::iter::repeat_n(b'e', 1000));
        stream.extend_from_slice(b"\ndata: 0123456789\ndata: abc\n\n");
        let got = parse_split(&stream, 7, 12);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, "0123456789\na");
        assert_eq!(got[0].event.as_deref().map(str::len), Some(MAX_FIELD));
        // A short event fits whole, the trailing LF is not part of the data.
        assert_eq!(parse_split(b"data: abc\n\n", 1, 4)[0].data, "abc");
    }

    #[test]
    fn id_with_nul_is_ignored_and_unknown_fields_are_skipped() {
        let got = parse_split(
            b"id: 1\ndata: a\n\nid: x\0y\nfoo: bar\nretryx: 1\ndata: b\n\n",
            3,
            64,
        );
        assert_eq!(
            got,
            vec![ev(None, Some("1"), "a"), ev(None, Some("1"), "b")]
        );
    }

    #[test]
    fn broken_bom_bytes_are_kept_as_line_bytes() {
        let got = parse_split(b"\xEF\xBBdata: z\n\ndata: y\n\n", 1, 64);
        // The first line's name is "\xEF\xBBdata", an unknown field.
        assert_eq!(got, vec![ev(None, None, "y")]);
    }

    #[test]
    fn after_a_gap_resumes_after_the_next_blank_line() {
        let mut parser = SseParser::new(64);
        let mut out = Vec::new();
        let mut emit = |ev: &SseEvent<'_>| out.push(ev.data.to_vec());
        parser.feed(b"data: lost\ndata: par", Timestamp::ZERO, &mut emit);
        parser.desync();
        parser.feed(
            b"tial\ndata: also lost\n\ndata: kept\n\n",
            Timestamp::ZERO,
            &mut emit,
        );
        assert_eq!(out, vec![b"kept".to_vec()]);
    }
}
