//! A table's rows, column by column, filled straight from records' JSON forms: `Row`
//! is a serde `Serializer` that a record's `ToJson` writes into as it writes JSON, each field
//! landing in the column of the same name as a typed value (no JSON text, no intermediate value),
//! with the Parquet definition and repetition levels worked out as it goes. [`Columns::write`]
//! hands the buffered rows to a Parquet row group and empties the buffers, keeping their memory for
//! the next one ([`Columns::release`] gives it back).

use super::schema::{Kind, TableDef};
use bytes::{BufMut, BytesMut};
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::writer::SerializedRowGroupWriter;
use serde::ser::{self, Serialize};
use std::fmt;

/// The values of one column.
enum Values {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Bool(Vec<bool>),
    /// Strings (and JSON text) end to end in `data`, each ending at its `ends` entry.
    Bytes {
        data: BytesMut,
        ends: Vec<usize>,
    },
}

/// One column's buffered values and levels.
pub struct Column {
    pub name: String,
    kind: Kind,
    values: Values,
    def: Vec<i16>,
    /// Repetition levels: list columns only (a flat column's are all 0 and not written).
    rep: Vec<i16>,
    /// Whether the column is a list (it has repetition levels).
    repeated: bool,
    /// Whether the current row gave this column a value yet.
    set: bool,
    /// The address of the field name this column was last found by: records name their
    /// fields with the same static strings, so the next lookup is one comparison.
    key: usize,
}

impl Column {
    fn new(name: &str, kind: Kind) -> Column {
        let values = match kind {
            Kind::Int => Values::Int(Vec::new()),
            Kind::Float => Values::Float(Vec::new()),
            Kind::Bool => Values::Bool(Vec::new()),
            Kind::Str | Kind::Json | Kind::StrList | Kind::StrListList => Values::Bytes {
                data: BytesMut::new(),
                ends: Vec::new(),
            },
        };
        Column {
            name: name.to_string(),
            kind,
            values,
            def: Vec::new(),
            rep: Vec::new(),
            repeated: matches!(kind, Kind::StrList | Kind::StrListList),
            set: false,
            key: 0,
        }
    }

    fn max_rep(&self) -> i16 {
        match self.kind {
            Kind::StrList => 1,
            Kind::StrListList => 2,
            _ => 0,
        }
    }

    /// Bytes of buffered values and levels (the buffers' capacity is at most twice this).
    fn buffered(&self) -> usize {
        let values = match &self.values {
            Values::Int(v) => v.len() * 8,
            Values::Float(v) => v.len() * 8,
            Values::Bool(v) => v.len(),
            Values::Bytes { data, ends } => data.len() + ends.len() * 8,
        };
        values + (self.def.len() + self.rep.len()) * 2
    }

    /// One value's levels: `def`, and `rep` for a list column.
    fn levels(&mut self, def: i16, rep: i16) {
        self.def.push(def);
        if self.repeated {
            self.rep.push(rep);
        }
    }

    fn null(&mut self) {
        self.levels(0, 0);
    }

    fn push_str(&mut self, s: &[u8]) {
        if let Values::Bytes { data, ends } = &mut self.values {
            data.extend_from_slice(s);
            ends.push(data.len());
        }
    }

    /// Bytes the buffers hold allocated.
    fn allocated(&self) -> usize {
        let values = match &self.values {
            Values::Int(v) => v.capacity() * 8,
            Values::Float(v) => v.capacity() * 8,
            Values::Bool(v) => v.capacity(),
            Values::Bytes { data, ends } => data.capacity() + ends.capacity() * 8,
        };
        values + (self.def.capacity() + self.rep.capacity()) * 2
    }

    /// Empties the buffers, keeping their memory for the next row group (a busy table fills
    /// them again without growing them), or giving it back (`release`).
    fn clear(&mut self, release: bool) {
        fn empty<T>(v: &mut Vec<T>, release: bool) {
            if release {
                *v = Vec::new();
            } else {
                v.clear();
            }
        }
        match &mut self.values {
            Values::Int(v) => empty(v, release),
            Values::Float(v) => empty(v, release),
            Values::Bool(v) => empty(v, release),
            Values::Bytes { data, ends } => {
                if release {
                    *data = BytesMut::new();
                } else {
                    data.clear();
                }
                empty(ends, release);
            }
        }
        empty(&mut self.def, release);
        empty(&mut self.rep, release);
    }
}

/// A value that does not fit its column's type: a record and the schema disagree.
#[derive(Debug)]
pub struct Mismatch(pub String);

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Mismatch {}

impl ser::Error for Mismatch {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Mismatch(msg.to_string())
    }
}

/// A table's buffered rows.
pub struct Columns {
    pub def: TableDef,
    columns: Vec<Column>,
    pub rows: usize,
    /// Where the next field is looked for first: records write their fields in the schema's
    /// order, so the search is one comparison per field.
    next: usize,
    /// The values of a string column handed to the encoder, a batch at a time.
    batch: Vec<ByteArray>,
}

/// Levels (about rows) of a string column handed to the encoder at a time.
const BATCH_LEVELS: usize = 8192;

impl Columns {
    pub fn new(def: TableDef) -> Columns {
        let columns = def
            .columns
            .iter()
            .map(|c| Column::new(&c.name, c.kind))
            .collect();
        Columns {
            def,
            columns,
            rows: 0,
            next: 0,
            batch: Vec::new(),
        }
    }

    /// Bytes of the buffered rows.
    pub fn buffered(&self) -> usize {
        self.columns.iter().map(Column::buffered).sum()
    }

    /// Bytes the buffers hold allocated, rows or not.
    pub fn allocated(&self) -> usize {
        self.columns.iter().map(Column::allocated).sum()
    }

    /// Gives the buffers' memory back (they are empty after [`Columns::write`]).
    pub fn release(&mut self) {
        for c in &mut self.columns {
            c.clear(true);
        }
    }

    /// Starts a row; every column left without a value by [`Columns::end_row`] is null.
    pub fn start_row(&mut self) {
        for c in &mut self.columns {
            c.set = false;
        }
        self.next = 0;
    }

    pub fn end_row(&mut self) {
        for c in &mut self.columns {
            if !c.set {
                c.null();
            }
        }
        self.rows += 1;
    }

    /// The column called `name`, if the table has one; `name_is_static`: the name lives as long
    /// as the program (its address names it, with its length).
    fn column(&mut self, name: &str, name_is_static: bool) -> Option<&mut Column> {
        let n = self.columns.len();
        let key = if name_is_static {
            name.as_ptr() as usize
        } else {
            0
        };
        let start = if self.next < n { self.next } else { 0 };
        let order = || (start..n).chain(0..start);
        let cached = |c: &Column| key != 0 && c.key == key && c.name.len() == name.len();
        let at = match order().find(|&i| cached(&self.columns[i])) {
            Some(at) => at,
            None => {
                let at = order().find(|&i| self.columns[i].name == name)?;
                self.columns[at].key = key;
                at
            }
        };
        self.next = at + 1;
        Some(&mut self.columns[at])
    }

    /// Writes one field of the current row (`name_is_static`: as `Columns::column`).
    pub fn field<T: Serialize + ?Sized>(
        &mut self,
        name: &str,
        name_is_static: bool,
        value: &T,
    ) -> Result<(), Mismatch> {
        // A field the schema does not list has no column: the schema test of the records
        // (tests/schema.rs) keeps the two in step.
        let Some(col) = self.column(name, name_is_static) else {
            return Ok(());
        };
        if col.set {
            return Err(Mismatch(format!("field {name} written twice")));
        }
        col.set = true;
        if col.kind == Kind::Json {
            // The value's JSON text, written straight after the column's other values.
            if let Values::Bytes { data, ends } = &mut col.values {
                let start = data.len();
                serde_json::to_writer((&mut *data).writer(), value)
                    .map_err(|e| Mismatch(e.to_string()))?;
                if &data[start..] == b"null" {
                    data.truncate(start);
                    col.null();
                } else {
                    ends.push(data.len());
                    col.levels(1, 0);
                }
            }
            return Ok(());
        }
        let before = col.def.len();
        value.serialize(Cell {
            col: &mut *col,
            depth: 0,
            list: ListState::default(),
        })?;
        if col.def.len() == before {
            return Err(Mismatch(format!("field {name} gave no value")));
        }
        Ok(())
    }

    /// Writes the buffered rows as one row group and empties the buffers.
    pub fn write<W: std::io::Write + Send>(
        &mut self,
        rg: &mut SerializedRowGroupWriter<'_, W>,
    ) -> Result<(), ParquetError> {
        use parquet::column::writer::ColumnWriter as W_;
        let batch = &mut self.batch;
        for col in &mut self.columns {
            let mut w = rg
                .next_column()?
                .ok_or_else(|| ParquetError::General(format!("no column for {}", col.name)))?;
            let rep = (col.max_rep() > 0).then_some(col.rep.as_slice());
            let def = Some(col.def.as_slice());
            // A string column's bytes, handed to the encoder without a copy; their buffer is
            // taken back once the encoder is done with them.
            let mut handed: Option<(bytes::Bytes, usize)> = None;
            // A present string's definition level (a list's element's, inside its list).
            let max_def = col.max_rep() + 1;
            match (w.untyped(), &mut col.values) {
                (W_::Int64ColumnWriter(w), Values::Int(v)) => {
                    w.write_batch(v, def, rep)?;
                }
                (W_::DoubleColumnWriter(w), Values::Float(v)) => {
                    w.write_batch(v, def, rep)?;
                }
                (W_::BoolColumnWriter(w), Values::Bool(v)) => {
                    w.write_batch(v, def, rep)?;
                }
                (W_::ByteArrayColumnWriter(w), Values::Bytes { data, ends }) => {
                    // In batches of rows: the values handed over stay few, in one reused vector.
                    let capacity = data.capacity();
                    let all = data.split().freeze();
                    let (mut level, mut value, mut byte) = (0, 0, 0);
                    while level < col.def.len() {
                        let mut end = (level + BATCH_LEVELS).min(col.def.len());
                        // A list's values stay in one batch with the row they begin.
                        while end < col.rep.len() && col.rep[end] != 0 {
                            end += 1;
                        }
                        let defs = &col.def[level..end];
                        let count = defs.iter().filter(|&&d| d == max_def).count();
                        batch.clear();
                        for &e in &ends[value..value + count] {
                            batch.push(ByteArray::from(all.slice(byte..e)));
                            byte = e;
                        }
                        let reps = rep.map(|r| &r[level..end]);
                        w.write_batch(batch, Some(defs), reps)?;
                        (level, value) = (end, value + count);
                    }
                    batch.clear();
                    handed = Some((all, capacity));
                }
                _ => {
                    return Err(ParquetError::General(format!(
                        "column {} has another type in the file",
                        col.name
                    )));
                }
            }
            w.close()?;
            // The encoder copied the values into its pages and kept none (string columns have
            // no statistics, and a dictionary goes with its writer): the buffer is ours again,
            // and `reserve` takes it back whole.
            if let (Some((all, capacity)), Values::Bytes { data, .. }) = (handed, &mut col.values) {
                drop(all);
                data.reserve(capacity);
            }
            col.clear(false);
        }
        self.rows = 0;
        Ok(())
    }
}

/// Where a list value is: whether the row's first element was written, and the current inner
/// list's.
#[derive(Clone, Copy, Default)]
struct ListState {
    any: bool,
    inner_any: bool,
}

/// One field's value going into its column; `depth` is the list nesting the value is at.
struct Cell<'c> {
    col: &'c mut Column,
    depth: u8,
    list: ListState,
}

impl Cell<'_> {
    fn wrong(&self, what: &str) -> Mismatch {
        Mismatch(format!(
            "column {} ({:?}) cannot hold {what}",
            self.col.name, self.col.kind
        ))
    }

    fn int(self, v: i64) -> Result<(), Mismatch> {
        match (&mut self.col.values, self.depth) {
            (Values::Int(vals), 0) => vals.push(v),
            (Values::Float(vals), 0) => vals.push(v as f64),
            _ => return Err(self.wrong("an integer")),
        }
        self.col.levels(1, 0);
        Ok(())
    }

    fn string(self, s: &str) -> Result<(), Mismatch> {
        let (def, rep) = match (self.col.kind, self.depth) {
            (Kind::Str, 0) => (1, 0),
            (Kind::StrList, 1) => (2, if self.list.any { 1 } else { 0 }),
            (Kind::StrListList, 2) => (
                3,
                match (self.list.any, self.list.inner_any) {
                    (false, _) => 0,
                    (true, false) => 1,
                    (true, true) => 2,
                },
            ),
            _ => return Err(self.wrong("a string")),
        };
        self.col.push_str(s.as_bytes());
        self.col.levels(def, rep);
        Ok(())
    }
}

/// A list being written into its column.
struct Seq<'c> {
    col: &'c mut Column,
    depth: u8,
    list: ListState,
    /// Elements written at this depth.
    len: usize,
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = Mismatch;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Mismatch> {
        let before = self.col.def.len();
        let mut state = self.list;
        value.serialize(Cell {
            col: &mut *self.col,
            depth: self.depth + 1,
            list: state,
        })?;
        if self.col.def.len() > before {
            state.any = true;
            if self.depth == 1 {
                state.inner_any = true;
            }
        }
        // An inner list (depth 1 here, in a list of lists) updates the state itself.
        if self.depth == 0 && self.col.kind == Kind::StrListList {
            state.any = true;
        }
        self.list = state;
        self.len += 1;
        Ok(())
    }

    fn end(self) -> Result<(), Mismatch> {
        if self.len == 0 {
            // An empty list: at depth 0 the list itself; at depth 1 an empty inner list.
            let (def, rep) = match self.depth {
                0 => (1, 0),
                _ => (2, if self.list.any { 1 } else { 0 }),
            };
            self.col.levels(def, rep);
        }
        Ok(())
    }
}

impl ser::SerializeTuple for Seq<'_> {
    type Ok = ();
    type Error = Mismatch;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Mismatch> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Mismatch> {
        ser::SerializeSeq::end(self)
    }
}

macro_rules! refuse {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $name(self, $($arg: $ty),*) -> Result<$ret, Mismatch> {
            $(let _ = $arg;)*
            Err(self.wrong(stringify!($name)))
        })*
    };
}

impl<'c> ser::Serializer for Cell<'c> {
    type Ok = ();
    type Error = Mismatch;
    type SerializeSeq = Seq<'c>;
    type SerializeTuple = Seq<'c>;
    type SerializeTupleStruct = ser::Impossible<(), Mismatch>;
    type SerializeTupleVariant = ser::Impossible<(), Mismatch>;
    type SerializeMap = ser::Impossible<(), Mismatch>;
    type SerializeStruct = ser::Impossible<(), Mismatch>;
    type SerializeStructVariant = ser::Impossible<(), Mismatch>;

    fn serialize_bool(self, v: bool) -> Result<(), Mismatch> {
        match (&mut self.col.values, self.depth) {
            (Values::Bool(vals), 0) => vals.push(v),
            _ => return Err(self.wrong("a boolean")),
        }
        self.col.levels(1, 0);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Mismatch> {
        self.int(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Mismatch> {
        self.int(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Mismatch> {
        self.int(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Mismatch> {
        self.int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Mismatch> {
        self.int(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Mismatch> {
        self.int(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Mismatch> {
        self.int(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Mismatch> {
        let v = i64::try_from(v).map_err(|_| Mismatch(format!("{v} exceeds INT64")))?;
        self.int(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Mismatch> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Mismatch> {
        match (&mut self.col.values, self.depth) {
            (Values::Float(vals), 0) => vals.push(v),
            _ => return Err(self.wrong("a number")),
        }
        self.col.levels(1, 0);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Mismatch> {
        self.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Mismatch> {
        self.string(v)
    }
    fn serialize_none(self) -> Result<(), Mismatch> {
        if self.depth > 0 {
            return Err(self.wrong("a null inside a list"));
        }
        self.col.null();
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Mismatch> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Mismatch> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Mismatch> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Mismatch> {
        self.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Mismatch> {
        value.serialize(self)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Seq<'c>, Mismatch> {
        let fits = matches!(
            (self.col.kind, self.depth),
            (Kind::StrList, 0) | (Kind::StrListList, 0) | (Kind::StrListList, 1)
        );
        if !fits {
            return Err(self.wrong("a list"));
        }
        let mut list = self.list;
        list.inner_any = false;
        Ok(Seq {
            col: self.col,
            depth: self.depth,
            list,
            len: 0,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'c>, Mismatch> {
        self.serialize_seq(Some(len))
    }

    refuse! {
        serialize_bytes(v: &[u8]) -> ();
        serialize_tuple_struct(name: &'static str, len: usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeTupleVariant;
        serialize_map(len: Option<usize>) -> Self::SerializeMap;
        serialize_struct(name: &'static str, len: usize) -> Self::SerializeStruct;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeStructVariant;
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Mismatch> {
        Err(self.wrong("an enum variant with a value"))
    }
}
