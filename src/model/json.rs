//! A record's JSON form: what it takes besides the record ([`JsonCx`]), the trait each record
//! implements ([`ToJson`]: the contract's fields in the contract's order), the wrapper serde
//! writes ([`Json`]), and how timestamps are written.

use crate::model::Layer;
use crate::model::payload::{HexBuf, hex_piece};
use crate::tcp::{Dir, FlowId};
use crate::time::Timestamp;
use serde::ser::{Serialize, Serializer};

/// What a record's JSON form takes besides the record: where it was found and how long a
/// preview is.
#[derive(Clone, Copy, Debug)]
pub struct JsonCx {
    /// The flow (none for an anomaly that belongs to no flow).
    pub flow: Option<FlowId>,
    /// The packet being processed when the record was made, if any.
    pub frame: Option<u64>,
    /// Characters of payload in a `preview` (`--snap-preview`).
    pub preview_chars: usize,
    /// The protocols the record was carried in (none for one read straight off TCP).
    pub layers: Layers,
}

/// The protocols a record was carried in, outermost first, named as the one-line view names
/// them (`["TLS 1.3"]` for a WebSocket frame read from TLS plaintext): the optional `layers`
/// field, written last and only when there is one. At most [`Layers::MAX`] are kept (the
/// outermost); no protocol stacks deeper today.
#[derive(Clone, Copy, Debug, Default)]
pub struct Layers {
    names: [&'static str; Layers::MAX],
    len: usize,
}

impl Layers {
    pub const MAX: usize = 4;

    /// The chain that ends at `layer`, the innermost.
    pub fn of(layer: Option<&Layer<'_>>) -> Layers {
        let chain = || std::iter::successors(layer, |l| l.outer);
        let depth = chain().count();
        let mut out = Layers {
            len: depth.min(Layers::MAX),
            ..Layers::default()
        };
        // Innermost first, each at its place counted from the outermost.
        for (i, l) in chain().enumerate() {
            let at = depth - 1 - i;
            if at < Layers::MAX {
                out.names[at] = l.name;
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[&'static str] {
        &self.names[..self.len]
    }

    /// Writes the `layers` field into `r` when there are layers.
    pub fn write<S: serde::ser::SerializeStruct>(&self, r: &mut S) -> Result<(), S::Error> {
        if self.is_empty() {
            return Ok(());
        }
        r.serialize_field("layers", self.as_slice())
    }
}

/// A record's JSON form: one object, the fields and their order as CONTRACT.md and
/// docs/schema.json give them.
pub trait ToJson {
    fn to_json<S: Serializer>(&self, cx: &JsonCx, s: S) -> Result<S::Ok, S::Error>;

    /// The same object written straight into a JSON line ([`JsonLine`]), for the records
    /// written for nearly every packet, where the fields of the program's own text come in
    /// runs: says whether it wrote it (nothing is written when it did not: `to_json` then
    /// writes it). The text is `to_json`'s, byte for byte (a test compares the two on
    /// generated records).
    fn to_json_line<L: JsonLine>(&self, cx: &JsonCx, line: &mut L) -> Result<bool, L::Error> {
        let _ = (cx, line);
        Ok(false)
    }
}

/// A JSON line that a record writes straight into ([`ToJson::to_json_line`]): runs of the
/// program's own text copied as they are (names with their punctuation, `true`, `null`),
/// numbers, timestamps, and the record's other fields as serde writes them.
pub trait JsonLine {
    type Error;
    /// The rest of an object begun with [`raw`](Self::raw): its further fields as a serde
    /// struct writes them, a comma before each; `end` closes the object.
    type Fields<'f>: serde::ser::SerializeStruct<Ok = (), Error = Self::Error>
    where
        Self: 'f;
    /// Copies `text`, JSON of the program's own: nothing in it is escaped.
    fn raw(&mut self, text: &'static str);
    /// A count, a length or a number: as serde writes a `u64`.
    fn uint(&mut self, v: u64);
    /// `name` (the field's name with its punctuation, `,"key":`), then `v` as [`uint`](Self::uint)
    /// writes it.
    #[inline(always)]
    fn count(&mut self, name: &'static str, v: u64) {
        self.raw(name);
        self.uint(v);
    }
    /// `name` (as for [`count`](Self::count)), then `v` as [`text`](Self::text) writes it, or
    /// `null`.
    #[inline(always)]
    fn text_or_null(&mut self, name: &'static str, v: Option<&str>) {
        self.raw(name);
        match v {
            Some(v) => self.text(v),
            None => self.raw("null"),
        }
    }
    /// A timestamp as [`ts_secs`] has serde write it.
    fn ts(&mut self, t: Timestamp);
    /// `"text"`, `text` the program's own ([`Plain`]).
    fn plain(&mut self, text: &str);
    /// `"text"`, `text` from a capture: escaped as serde has a string written.
    fn text(&mut self, text: &str);
    /// The object's further fields, after those written.
    fn fields(&mut self) -> Self::Fields<'_>;
}

/// Writes what every record of a flow's packet begins with, `{"type":"NAME","flow":F,
/// "dir":"c2s","ts":T,"frame":N`, into `line`; `type_flow` is its first run,
/// `{"type":"NAME","flow":`.
pub fn line_head<L: JsonLine>(
    line: &mut L,
    type_flow: &'static str,
    [flow, frame]: [u64; 2],
    dir: Dir,
    ts: Timestamp,
) {
    line.raw(type_flow);
    line.uint(flow);
    line.raw(match dir {
        Dir::C2S => ",\"dir\":\"c2s\",\"ts\":",
        Dir::S2C => ",\"dir\":\"s2c\",\"ts\":",
    });
    line.ts(ts);
    line.count(",\"frame\":", frame);
}

/// A record with its JSON context, ready for serde.
pub struct Json<'r, R: ?Sized> {
    pub record: &'r R,
    pub cx: JsonCx,
}

impl<R: ToJson + ?Sized> Serialize for Json<'_, R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.record.to_json(&self.cx, s)
    }
}

/// Text the program made that holds nothing JSON or a terminal would escape: its own names (a
/// record's type, a direction) and hex digits. It serializes as a newtype struct named
/// [`Plain::NAME`] around the string, which every serializer writes as the string itself, and
/// which the `--json` writer copies without looking for characters to escape (serde_json's
/// `RawValue` marks its own text the same way). Made only by [`Plain::name`] and
/// `Plain::hex`, so no byte from a capture is ever plain.
#[derive(Clone, Copy, Debug)]
pub struct Plain<'a>(&'a str);

impl<'a> Plain<'a> {
    /// The newtype struct's name that marks the text.
    pub const NAME: &'static str = "$sockscope::Plain";

    /// One of the program's own names.
    pub fn name(name: &'static str) -> Plain<'static> {
        Plain(name)
    }

    /// `bytes` in hex (their first 64, what a [`HexBuf`] holds), written into `buf`.
    pub(crate) fn hex(bytes: &[u8], buf: &'a mut HexBuf) -> Plain<'a> {
        Plain(hex_piece(bytes, buf))
    }
}

impl Serialize for Plain<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(Plain::NAME, self.0)
    }
}

/// A timestamp as JSON writes it: seconds since the epoch, to the microsecond.
pub fn ts_secs(t: Timestamp) -> f64 {
    t.as_nanos().div_euclid(1_000) as f64 / 1e6
}

/// `serialize_with` for timestamps (see [`ts_secs`]).
pub(crate) fn ts<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ts_secs(*t))
}
