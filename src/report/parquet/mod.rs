//! `--format parquet --out DIR`: one Parquet file per record type (`flows.parquet`,
//! `http.parquet`, `handshakes.parquet`, `ws_messages.parquet`, `sse_events.parquet`,
//! `anomalies.parquet`, `ws_frames.parquet` when asked for, and one for every record type added
//! later), columns named and typed as the JSON fields ([`schema`]: derived from docs/schema.json,
//! no second schema), zstd-compressed, plus `summary.json` (the `summary` record).
//!
//! The printer knows no record type: each record's JSON form is written into the columns of the
//! table its `type` names ([`columns`]). Rows are buffered per table and handed to the encoder
//! thread (`encoder`) as a row group whenever the buffers reach half the writer's memory
//! (taken out of the memory budget, [`writer_memory`]), so memory does not grow with the
//! capture and encoding runs beside the analysis; emptied buffers come back to be filled again.
//! Files are written under a temporary name and renamed when complete: a reader never sees
//! half a file.

pub mod columns;
mod encoder;
pub mod schema;

use crate::model::{Anomaly, Event, EventCtx, EventSink, FlowRecord, Json, JsonCx, Layers};
use crate::report::json::json_line;
use crate::report::{IoState, PacketDone, Reporter};
use crate::stats::RunStats;
use crate::time::Timestamp;
use columns::{Columns, Mismatch};
use encoder::Encoder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use serde::ser::{self, Serialize};
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::sync::Arc;

/// The memory the writer holds for a run whose budget is `budget` bytes: an eighth of it,
/// between 1 and 16 MiB, for the rows buffered before each row group (the column encoder's own
/// pages are bounded by the page size limits below). The rows being filled stay under half of
/// this plus the rows of `CHECK_EVERY` records, the two row groups at most in the encoder's
/// hands (one written, one waiting) under half of it each; the capacity of the buffers being
/// filled or kept for reuse stays under twice this, that of those row groups under this each.
pub fn writer_memory(budget: usize) -> usize {
    (budget / 8).clamp(1 << 20, 16 << 20)
}

/// Largest data and dictionary page the encoder builds in memory.
const PAGE_BYTES: usize = 1 << 20;

/// Values the column encoder takes at a time (its per-batch work is paid less often than at
/// its default of 1024).
const WRITE_BATCH: usize = 8192;

/// Rows between two looks at a table's buffer size.
const CHECK_EVERY: usize = 256;

/// How a table is encoded: zstd pages; dictionaries only for the columns whose values the
/// schema lists (elsewhere building one costs more than zstd gains over it); min/max
/// statistics per column chunk for numbers (times, ids, sizes: what a query prunes row groups
/// by), none for strings.
fn properties(def: &schema::TableDef) -> WriterProperties {
    let mut b = WriterProperties::builder()
        // Level 1: levels below it (-1, -3) were no faster here and wrote 18–70 % more.
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_write_batch_size(WRITE_BATCH)
        .set_data_page_size_limit(PAGE_BYTES)
        .set_dictionary_page_size_limit(PAGE_BYTES)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_created_by(format!("sockscope {}", env!("CARGO_PKG_VERSION")));
    for c in &def.columns {
        let path = || ColumnPath::from(c.name.as_str());
        if c.few_values {
            b = b.set_column_dictionary_enabled(path(), true);
        }
        if !matches!(
            c.kind,
            schema::Kind::Int | schema::Kind::Float | schema::Kind::Bool
        ) {
            // Strings: min/max of free text (previews, headers, details) would be long and
            // useless, and those of listed values are the list; kept, they would hold on to
            // the column's buffer (`columns::Columns::write` hands its values over uncopied).
            b = b.set_column_statistics_enabled(path(), EnabledStatistics::None);
        }
    }
    b.build()
}

/// What to write and where.
#[derive(Clone, Debug)]
pub struct ParquetOptions {
    pub dir: PathBuf,
    /// Also write `ws_frames.parquet` (one row per WebSocket frame).
    pub ws_frames: bool,
    /// Bytes of buffered rows, all tables together ([`writer_memory`]).
    pub memory: usize,
    /// Characters of payload in `preview` columns.
    pub preview_chars: usize,
    /// Write each file under its own name from the start, instead of a temporary name renamed
    /// when complete: for `live`, which may have given up the right to rename in `dir` by
    /// the time it finishes (every file, `summary.json` too, is opened before that).
    pub in_place: bool,
    /// Start a new set of files (`dir/part=00001/`, …) every this many nanoseconds of capture
    /// time (`--roll MINUTES`); `None`: one set, in `dir`.
    pub roll: Option<i64>,
}

/// One table's file.
struct Table {
    columns: Columns,
    /// Whether the table was asked for and has a file (the rows of one not asked for are
    /// dropped).
    wanted: bool,
    partial: PathBuf,
    path: PathBuf,
}

/// The Parquet printer.
pub struct ParquetWriter {
    opts: ParquetOptions,
    tables: Vec<Table>,
    /// The thread that writes the files.
    encoder: Encoder,
    /// Emptied buffers back from the encoder, to be filled again.
    spare: Vec<Columns>,
    io: IoState,
    /// Rows since the last look at the buffers' size.
    since_check: usize,
    /// `summary.json`, opened at the start when writing in place.
    summary: Option<File>,
    /// With `roll`: the current set of files and when it ends.
    part: u32,
    part_end: Option<Timestamp>,
}

impl ParquetWriter {
    /// Creates `dir` (if needed) and the files of the usual tables.
    pub fn create(opts: ParquetOptions) -> io::Result<ParquetWriter> {
        std::fs::create_dir_all(&opts.dir)?;
        let mut w = ParquetWriter {
            opts,
            tables: Vec::new(),
            encoder: Encoder::start()?,
            spare: Vec::new(),
            io: IoState::default(),
            since_check: 0,
            summary: None,
            part: 0,
            part_end: None,
        };
        if w.opts.in_place {
            w.summary = Some(File::create(w.opts.dir.join("summary.json"))?);
        }
        w.open_all()?;
        Ok(w)
    }

    /// Opens the files of the usual tables.
    fn open_all(&mut self) -> io::Result<()> {
        if self.opts.roll.is_some() {
            std::fs::create_dir_all(self.files_dir())?;
        }
        for (record, _) in schema::TABLES {
            self.open(record)?;
        }
        Ok(())
    }

    /// Where the current set of files goes.
    fn files_dir(&self) -> PathBuf {
        match self.opts.roll {
            Some(_) => self.opts.dir.join(format!("part={:05}", self.part)),
            None => self.opts.dir.clone(),
        }
    }

    /// Hands what is buffered over and has every file completed.
    fn close_all(&mut self) -> io::Result<()> {
        for i in 0..self.tables.len() {
            self.flush(i)?;
            let t = &self.tables[i];
            if t.wanted {
                self.encoder.close(i, t.partial.clone(), t.path.clone())?;
            }
        }
        self.tables.clear();
        self.spare.clear();
        Ok(())
    }

    /// With `roll`: at a packet past the current set's end, completes its files and starts the
    /// next set.
    fn roll_at(&mut self, ts: Timestamp) -> io::Result<()> {
        let Some(every) = self.opts.roll else {
            return Ok(());
        };
        match self.part_end {
            None => self.part_end = Some(Timestamp(ts.0.saturating_add(every))),
            Some(end) if ts >= end => {
                self.close_all()?;
                self.part += 1;
                let behind = (ts.0 - end.0) / every + 1;
                self.part_end = Some(Timestamp(end.0.saturating_add(behind * every)));
                self.open_all()?;
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Opens the table of `record`; `Ok(None)` if the schema has no such record type.
    fn open(&mut self, record: &str) -> io::Result<Option<usize>> {
        let Some(def) = schema::table(record) else {
            return Ok(None);
        };
        let dir = self.files_dir();
        let path = dir.join(format!("{}.parquet", def.file));
        let partial = if self.opts.in_place {
            path.clone()
        } else {
            dir.join(format!(".{}.parquet.partial", def.file))
        };
        let wanted = record != "ws_frame" || self.opts.ws_frames;
        let slot = self.tables.len();
        if wanted {
            let message = parquet::schema::parser::parse_message_type(&def.message_type())
                .map_err(io::Error::other)?;
            let file = BufWriter::with_capacity(64 << 10, File::create(&partial)?);
            let writer =
                SerializedFileWriter::new(file, Arc::new(message), Arc::new(properties(&def)))
                    .map_err(io::Error::other)?;
            self.encoder.open(slot, writer)?;
        }
        self.tables.push(Table {
            columns: Columns::new(def),
            wanted,
            partial,
            path,
        });
        Ok(Some(slot))
    }

    /// The table of `record`, opened on first use.
    fn table_of(&mut self, record: &str) -> Result<Option<usize>, Mismatch> {
        if let Some(i) = self
            .tables
            .iter()
            .position(|t| t.columns.def.record == record)
        {
            return Ok(Some(i));
        }
        self.open(record).map_err(|e| Mismatch(e.to_string()))
    }

    /// Whether records of type `record` are written (a table not opened yet is).
    fn wanted(&self, record: &str) -> bool {
        self.tables
            .iter()
            .find(|t| t.columns.def.record == record)
            .is_none_or(|t| t.wanted)
    }

    /// Writes one record (its JSON form) as a row.
    fn row<T: Serialize + ?Sized>(&mut self, record: &T) {
        if self.io.failed {
            return;
        }
        let r = record.serialize(Row {
            writer: self,
            table: None,
            typed: false,
        });
        if let Err(e) = r {
            self.io.record(Err(io::Error::other(format!(
                "a record does not fit its Parquet table: {e}"
            ))));
            return;
        }
        self.since_check += 1;
        if self.since_check >= CHECK_EVERY {
            self.since_check = 0;
            // Over half the writer's memory, the largest tables are handed over first: the
            // busy tables get large row groups, the quiet ones are not cut into small ones.
            let mut sizes: Vec<(usize, usize)> = (0..self.tables.len())
                .map(|i| (self.tables[i].columns.buffered(), i))
                .collect();
            let mut total: usize = sizes.iter().map(|s| s.0).sum();
            if total > self.opts.memory / 2 {
                sizes.sort_unstable_by(|a, b| b.cmp(a));
                for (size, i) in sizes {
                    if total <= self.opts.memory / 4 {
                        break;
                    }
                    let r = self.flush(i);
                    self.io.record(r);
                    total -= size;
                }
            }
            self.release_over(2 * self.opts.memory);
        }
    }

    /// Gives back the memory of spare buffers and of empty tables, the largest first, until
    /// the buffers hold at most `limit` bytes allocated: buffers are kept between row groups
    /// (refilling them costs no allocation), within twice the writer's memory.
    fn release_over(&mut self, limit: usize) {
        let spare: usize = self.spare.iter().map(Columns::allocated).sum();
        let mut allocated = spare
            + self
                .tables
                .iter()
                .map(|t| t.columns.allocated())
                .sum::<usize>();
        if allocated <= limit {
            return;
        }
        self.spare.clear();
        allocated -= spare;
        let mut empty: Vec<(usize, usize)> = (0..self.tables.len())
            .filter(|&i| self.tables[i].columns.rows == 0)
            .map(|i| (self.tables[i].columns.allocated(), i))
            .collect();
        empty.sort_unstable_by(|a, b| b.cmp(a));
        for (size, i) in empty {
            if allocated <= limit {
                break;
            }
            self.tables[i].columns.release();
            allocated -= size;
        }
    }

    /// Hands table `i`'s buffered rows to the encoder as a row group, and gives the table an
    /// emptied buffer of its record type back, or a new one.
    fn flush(&mut self, i: usize) -> io::Result<()> {
        if !self.tables[i].wanted || self.tables[i].columns.rows == 0 {
            return Ok(());
        }
        while let Some(c) = self.encoder.emptied() {
            self.spare.push(c);
        }
        let t = &mut self.tables[i];
        let record = &t.columns.def.record;
        let empty = match self.spare.iter().position(|c| c.def.record == *record) {
            Some(at) => self.spare.swap_remove(at),
            None => Columns::new(t.columns.def.clone()),
        };
        let rows = std::mem::replace(&mut t.columns, empty);
        self.encoder.write(i, rows)
    }

    fn json<'r, R: ?Sized>(
        &self,
        record: &'r R,
        flow: Option<u64>,
        frame: Option<u64>,
        layers: Layers,
    ) -> Json<'r, R> {
        Json {
            record,
            cx: JsonCx {
                flow,
                frame,
                preview_chars: self.opts.preview_chars,
                layers,
            },
        }
    }
}

impl EventSink for ParquetWriter {
    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        let json = self.json(anomaly, None, Some(frame), Layers::default());
        self.row(&json);
    }

    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        match event {
            Event::Record(record) => {
                // A table not asked for (ws_frames) costs nothing: its records are not written.
                if !self.wanted(record.type_name()) {
                    return;
                }
                let layers = Layers::of(ctx.layer);
                let json = self.json(&record, Some(ctx.flow.id), ctx.pkt.map(|p| p.frame), layers);
                self.row(&json);
            }
            Event::FlowClosed { how, summary } => {
                self.row(&FlowRecord::new(ctx.flow, summary, how));
            }
            Event::FlowOpened | Event::HttpHead(_) | Event::Control { .. } => {}
        }
    }
}

impl Reporter for ParquetWriter {
    fn packet_done(&mut self, done: &PacketDone<'_>) {
        if self.opts.roll.is_some() && !self.io.failed {
            let r = self.roll_at(done.ts());
            self.io.record(r);
        }
    }

    fn finish(&mut self, stats: &RunStats) -> io::Result<()> {
        if let Some(e) = self.io.take() {
            return Err(e);
        }
        self.close_all()?;
        self.encoder.finish()?;
        let mut summary = json_line(&stats.record());
        summary.push('\n');
        match self.summary.take() {
            Some(mut file) => io::Write::write_all(&mut file, summary.as_bytes()),
            None => std::fs::write(self.opts.dir.join("summary.json"), summary),
        }
    }

    /// The encoder's failure is taken here, after every packet (the run then stops).
    fn take_io_error(&mut self) -> Option<io::Error> {
        if let Some(e) = self.encoder.failure() {
            self.io.record(Err(e));
        }
        self.io.take()
    }

    /// Only to roll files over on capture time.
    fn wants_packets(&self) -> bool {
        self.opts.roll.is_some()
    }
}

/// A record going into the table its `type` names: a serde `Serializer` for the record's JSON
/// form, which is a struct (or map) of fields.
struct Row<'w> {
    writer: &'w mut ParquetWriter,
    /// The table, once the record's type is known (and it has one).
    table: Option<usize>,
    /// Whether the record's type is known (a type the schema lacks has no table: the row is
    /// dropped).
    typed: bool,
}

impl Row<'_> {
    fn columns(&mut self) -> Option<&mut Columns> {
        let i = self.table?;
        let t = &mut self.writer.tables[i];
        t.wanted.then_some(&mut t.columns)
    }

    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &str,
        key_is_static: bool,
        value: &T,
    ) -> Result<(), Mismatch> {
        if key == "type" {
            if self.typed {
                return Ok(());
            }
            self.typed = true;
            let name = serde_json::to_value(value).map_err(|e| Mismatch(e.to_string()))?;
            let name = name
                .as_str()
                .ok_or_else(|| Mismatch("a record's type is not a string".into()))?;
            self.table = self.writer.table_of(name)?;
            if let Some(c) = self.columns() {
                c.start_row();
            }
            return Ok(());
        }
        if !self.typed {
            return Err(Mismatch(format!("field {key} before the record's type")));
        }
        match self.columns() {
            Some(c) => c.field(key, key_is_static, value),
            None => Ok(()),
        }
    }

    fn end(mut self) -> Result<(), Mismatch> {
        if let Some(c) = self.columns() {
            c.end_row();
        }
        Ok(())
    }
}

impl ser::SerializeStruct for Row<'_> {
    type Ok = ();
    type Error = Mismatch;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Mismatch> {
        self.field(key, true, value)
    }
    fn end(self) -> Result<(), Mismatch> {
        Row::end(self)
    }
}

/// A map's pending key (records written as maps give their keys first).
struct RowMap<'w> {
    row: Row<'w>,
    key: Option<String>,
}

impl ser::SerializeMap for RowMap<'_> {
    type Ok = ();
    type Error = Mismatch;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Mismatch> {
        let key = serde_json::to_value(key).map_err(|e| Mismatch(e.to_string()))?;
        self.key = key.as_str().map(str::to_owned);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Mismatch> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Mismatch("a record's key is not a string".into()))?;
        self.row.field(&key, false, value)
    }
    fn end(self) -> Result<(), Mismatch> {
        self.row.end()
    }
}

macro_rules! not_a_record {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $name(self, $($arg: $ty),*) -> Result<$ret, Mismatch> {
            $(let _ = $arg;)*
            Err(Mismatch(concat!("a record is a struct, not ", stringify!($name)).into()))
        })*
    };
}

impl<'w> ser::Serializer for Row<'w> {
    type Ok = ();
    type Error = Mismatch;
    type SerializeSeq = ser::Impossible<(), Mismatch>;
    type SerializeTuple = ser::Impossible<(), Mismatch>;
    type SerializeTupleStruct = ser::Impossible<(), Mismatch>;
    type SerializeTupleVariant = ser::Impossible<(), Mismatch>;
    type SerializeMap = RowMap<'w>;
    type SerializeStruct = Row<'w>;
    type SerializeStructVariant = ser::Impossible<(), Mismatch>;

    fn serialize_struct(mut self, name: &'static str, _len: usize) -> Result<Row<'w>, Mismatch> {
        // Records name their struct after their type (all but the flow record): the table is
        // known before the `type` field.
        let tables = &self.writer.tables;
        if let Some(i) = tables.iter().position(|t| t.columns.def.record == name) {
            self.table = Some(i);
            self.typed = true;
            if let Some(c) = self.columns() {
                c.start_row();
            }
        }
        Ok(self)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<RowMap<'w>, Mismatch> {
        Ok(RowMap {
            row: self,
            key: None,
        })
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Mismatch> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Mismatch> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Mismatch> {
        Err(Mismatch("a record is a struct, not an enum".into()))
    }

    not_a_record! {
        serialize_bool(v: bool) -> ();
        serialize_i8(v: i8) -> ();
        serialize_i16(v: i16) -> ();
        serialize_i32(v: i32) -> ();
        serialize_i64(v: i64) -> ();
        serialize_u8(v: u8) -> ();
        serialize_u16(v: u16) -> ();
        serialize_u32(v: u32) -> ();
        serialize_u64(v: u64) -> ();
        serialize_f32(v: f32) -> ();
        serialize_f64(v: f64) -> ();
        serialize_char(v: char) -> ();
        serialize_str(v: &str) -> ();
        serialize_bytes(v: &[u8]) -> ();
        serialize_none() -> ();
        serialize_unit() -> ();
        serialize_unit_struct(name: &'static str) -> ();
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str) -> ();
        serialize_seq(len: Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(len: usize) -> Self::SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeTupleVariant;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeStructVariant;
    }
}
