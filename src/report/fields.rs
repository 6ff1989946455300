//! `-T fields -e NAME … [-E OPTION=VALUE]`: one line per record with the values of the named
//! fields, as tshark's `-T fields` prints one line per packet. The names are the display
//! filter's (`sockscope fields`; Wireshark's names where they are aliases), checked before the
//! run: an unknown one is refused with the nearest name.
//!
//! Which records get a line: those `-Y` matches (every record without `-Y`) whose type carries
//! one of the named fields other than those of "Every record" (`flow.id`, `ip.addr`,
//! `frame.number`, …);
//! when only those are named, every record. A field with several values prints them joined by
//! the aggregator (`-E occurrence=a`, the default), or the first or last one; an absent field
//! is an empty column. Values are written as tshark writes them where the field is the same:
//! numbers in decimal, times as seconds since the epoch with nine decimals, bytes in hex, bools
//! as `1`/`0`; text from the capture is escaped for the terminal as every text view does.

use crate::filter::fields::{self, FieldId, def};
use crate::filter::{FieldSource, RecordSet, Value};
use crate::model::{Anomaly, Event, EventCtx, EventSink, FlowFacts, FlowKind, InFlow};
use crate::report::escape;
use crate::report::gate::early_kind;
use crate::report::select::{HeldLines, Pick, Selection};
use crate::report::{IoState, Reporter};
use crate::stats::RunStats;
use crate::tcp::FlowId;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::ops::ControlFlow;

/// Which values of a field with several are printed (`-E occurrence=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Occurrence {
    All,
    First,
    Last,
}

/// The `-E` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldsOptions {
    separator: String,
    aggregator: String,
    occurrence: Occurrence,
    header: bool,
    quote: Option<char>,
}

impl Default for FieldsOptions {
    fn default() -> Self {
        FieldsOptions {
            separator: "\t".into(),
            aggregator: ",".into(),
            occurrence: Occurrence::All,
            header: false,
            quote: None,
        }
    }
}

/// tshark's `/t` and `/s` for tab and space.
fn separator(v: &str) -> String {
    match v {
        "/t" => "\t".into(),
        "/s" => " ".into(),
        v => v.into(),
    }
}

impl FieldsOptions {
    /// Reads `-E` options (`separator=,`, `header=y`, `quote=d`, `occurrence=f`,
    /// `aggregator=;`).
    pub fn parse(options: &[String]) -> Result<FieldsOptions, String> {
        let mut o = FieldsOptions::default();
        for opt in options {
            let Some((name, value)) = opt.split_once('=') else {
                return Err(format!(
                    "-E {opt}: write OPTION=VALUE (separator, aggregator, occurrence, header, quote)"
                ));
            };
            let bad = |allowed: &str| Err(format!("-E {name}={value}: {name} takes {allowed}",));
            match name {
                "separator" if !value.is_empty() => o.separator = separator(value),
                "separator" => return bad("a character, /t (tab) or /s (space)"),
                "aggregator" if !value.is_empty() => o.aggregator = separator(value),
                "aggregator" => return bad("a character, /t (tab) or /s (space)"),
                "occurrence" => {
                    o.occurrence = match value {
                        "a" => Occurrence::All,
                        "f" | "1" => Occurrence::First,
                        "l" | "-1" => Occurrence::Last,
                        _ => return bad("a (all), f (first) or l (last)"),
                    }
                }
                "header" => {
                    o.header = match value {
                        "y" => true,
                        "n" => false,
                        _ => return bad("y or n"),
                    }
                }
                "quote" => {
                    o.quote = match value {
                        "d" => Some('"'),
                        "s" => Some('\''),
                        "n" => None,
                        _ => return bad("d (double), s (single) or n (none)"),
                    }
                }
                _ => {
                    return Err(format!(
                        "-E {opt}: unknown option `{name}`; the options are separator, \
                         aggregator, occurrence, header and quote"
                    ));
                }
            }
        }
        Ok(o)
    }
}

/// A field named with `-e`, resolved.
#[derive(Clone, Debug)]
struct Column {
    name: String,
    id: FieldId,
    key: Option<String>,
}

/// Resolves `-e` names; an unknown one is refused with the nearest name.
fn columns(names: &[String]) -> Result<Vec<Column>, String> {
    names
        .iter()
        .map(|name| match fields::lookup(name) {
            Some(r) => Ok(Column {
                name: name.clone(),
                id: r.id,
                key: r.key.map(str::to_string),
            }),
            None => Err(match fields::suggest(name) {
                Some(s) => format!(
                    "-e {}: no such field; did you mean `{s}`? (`sockscope fields` lists them)",
                    escape::escape(name)
                ),
                None => format!(
                    "-e {}: no such field; `sockscope fields` lists them",
                    escape::escape(name)
                ),
            }),
        })
        .collect()
}

/// Checks `-T fields` options before a run.
pub fn check(names: &[String], options: &[String]) -> Result<(), String> {
    if names.is_empty() {
        return Err("-T fields needs at least one -e FIELD".into());
    }
    columns(names)?;
    FieldsOptions::parse(options)?;
    Ok(())
}

/// The `-T fields` printer.
pub struct FieldsPrinter<W: Write> {
    out: W,
    io: IoState,
    columns: Vec<Column>,
    options: FieldsOptions,
    /// Record types that get a line.
    records: RecordSet,
    select: Option<Selection>,
    line: String,
    /// Lines of flows whose kind the filter waits for.
    held: HeldLines,
    /// A column shows `flow.kind`: the kinds of open flows, once known.
    shows_kind: bool,
    kinds: HashMap<FlowId, FlowKind>,
    released: Vec<u8>,
    header_done: bool,
}

impl<W: Write> FieldsPrinter<W> {
    pub fn new(out: W, names: &[String], options: &[String]) -> Result<Self, String> {
        let columns = columns(names)?;
        let shows_kind = columns.iter().any(|c| c.id == FieldId::FlowKind);
        let options = FieldsOptions::parse(options)?;
        let own: RecordSet = columns
            .iter()
            .map(|c| def(c.id))
            .filter(|d| d.group != fields::EVERY_RECORD)
            .map(|d| d.records)
            .fold(RecordSet::EMPTY, RecordSet::union);
        Ok(FieldsPrinter {
            out,
            io: IoState::default(),
            columns,
            options,
            records: if own.is_empty() { RecordSet::ALL } else { own },
            select: None,
            line: String::new(),
            held: HeldLines::default(),
            shows_kind,
            kinds: HashMap::new(),
            released: Vec::new(),
            header_done: false,
        })
    }

    /// Prints only the records `select` picks.
    pub fn with_filter(mut self, select: Option<Selection>) -> Self {
        self.select = select;
        self
    }

    fn write(&mut self, text: &[u8]) {
        if !self.io.failed && !text.is_empty() {
            let r = self.out.write_all(text);
            self.io.record(r);
        }
    }

    /// Writes what `held` let out.
    fn write_released(&mut self) {
        let released = std::mem::take(&mut self.released);
        self.write(&released);
        self.released = released;
        self.released.clear();
    }

    fn header(&mut self) {
        if self.header_done || !self.options.header {
            return;
        }
        self.header_done = true;
        let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        let line = format!("{}\n", names.join(&self.options.separator));
        self.write(line.as_bytes());
    }

    /// The line of a record into `self.line`.
    fn make_line(&mut self, subject: &InFlow<'_>) {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                line.push_str(&self.options.separator);
            }
            let mut values: Vec<String> = Vec::new();
            let occurrence = self.options.occurrence;
            let _ = subject.values(c.id, c.key.as_deref(), &mut |v| {
                if occurrence == Occurrence::Last {
                    values.clear();
                }
                values.push(show(&v));
                if occurrence == Occurrence::First {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            if values.is_empty() {
                continue;
            }
            let joined = values.join(&self.options.aggregator);
            match self.options.quote {
                Some(q) => {
                    line.push(q);
                    line.push_str(&joined);
                    line.push(q);
                }
                None => line.push_str(&joined),
            }
        }
        line.push('\n');
        self.line = line;
    }

    /// Prints the line of a record, or holds it for its flow's kind.
    fn emit(&mut self, subject: &InFlow<'_>, flow: Option<FlowId>, pick: Pick) {
        if pick == Pick::No || !self.records.contains(subject.own.record_type()) {
            return;
        }
        self.header();
        self.make_line(subject);
        if let Some(flow) = flow
            && (matches!(pick, Pick::Later(_)) || self.held.holds(flow))
        {
            self.held
                .hold(flow, self.line.as_bytes(), pick.kinds(), &mut self.released);
            return self.write_released();
        }
        let line = std::mem::take(&mut self.line);
        self.write(line.as_bytes());
        self.line = line;
    }
}

/// A value as a column shows it.
fn show(v: &Value<'_>) -> String {
    match v {
        Value::Present => "1".into(),
        Value::Bool(b) => if *b { "1" } else { "0" }.into(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Str(s) | Value::Sym(s) => escape::escape(s).into_owned(),
        Value::Bytes(b) => {
            let mut s = String::with_capacity(b.len() * 2);
            for x in *b {
                let _ = write!(s, "{x:02x}");
            }
            s
        }
        Value::Addr(a) => a.to_string(),
        Value::Time(t) => {
            let n = t.as_nanos();
            format!(
                "{}.{:09}",
                n.div_euclid(1_000_000_000),
                n.rem_euclid(1_000_000_000)
            )
        }
    }
}

impl<W: Write> EventSink for FieldsPrinter<W> {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        let flow = ctx.flow.id;
        if let Some(sel) = &mut self.select
            && let Some(k) = sel.observe(ctx, &event)
        {
            self.held.release(flow, Some(k), &mut self.released);
            self.write_released();
        }
        // `flow.kind` in a column: the kind as soon as an event proves it.
        let kind = if self.shows_kind {
            if let Some(k) = early_kind(&event) {
                self.kinds.entry(flow).or_insert(k);
            }
            let kind = self.kinds.get(&flow).copied();
            if let Event::FlowClosed { .. } = event {
                self.kinds.remove(&flow);
            }
            kind
        } else {
            None
        };
        match event {
            Event::Record(r) => {
                let pick = match &mut self.select {
                    Some(sel) => sel.record(ctx, r),
                    None => Pick::Yes,
                };
                let subject = InFlow::record(ctx, r, kind);
                self.emit(&subject, Some(flow), pick);
            }
            Event::FlowClosed { how, summary } => {
                let shown = self
                    .select
                    .as_mut()
                    .is_none_or(|s| s.flow_closed(ctx.flow, summary, how).record);
                let pick = if shown { Pick::Yes } else { Pick::No };
                let facts = FlowFacts {
                    meta: ctx.flow,
                    summary,
                    how,
                };
                let subject = InFlow::flow(&facts);
                self.emit(&subject, None, pick);
            }
            _ => {}
        }
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        let shown = self
            .select
            .as_mut()
            .is_none_or(|s| s.global(anomaly, frame));
        let subject = InFlow::outside(anomaly, frame);
        self.emit(&subject, None, if shown { Pick::Yes } else { Pick::No });
    }
}

impl<W: Write> Reporter for FieldsPrinter<W> {
    fn finish(&mut self, _stats: &RunStats) -> std::io::Result<()> {
        self.held.release_all(&mut self.released);
        self.write_released();
        self.io.finish(&mut self.out)
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.io.take()
    }
    fn wants_packets(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_like_tsharks() {
        let o = FieldsOptions::parse(&[
            "separator=,".into(),
            "header=y".into(),
            "quote=d".into(),
            "occurrence=f".into(),
        ])
        .unwrap();
        assert_eq!(o.separator, ",");
        assert!(o.header);
        assert_eq!(o.quote, Some('"'));
        assert_eq!(o.occurrence, Occurrence::First);
        assert_eq!(
            FieldsOptions::parse(&["separator=/t".into()])
                .unwrap()
                .separator,
            "\t"
        );
        assert!(FieldsOptions::parse(&["colour=y".into()]).is_err());
        assert!(FieldsOptions::parse(&["header=yes".into()]).is_err());
    }

    #[test]
    fn unknown_fields_are_refused_with_the_nearest_name() {
        let err = check(&["http.stauts".into()], &[]).unwrap_err();
        assert!(err.contains("did you mean `http.status`"), "{err}");
        assert!(
            check(
                &["http.response.code".into(), "http.header.host".into()],
                &[]
            )
            .is_ok()
        );
    }

    #[test]
    fn values_print_as_tshark_prints_them() {
        assert_eq!(show(&Value::Bool(true)), "1");
        assert_eq!(show(&Value::Bytes(&[0xa1, 0x02])), "a102");
        assert_eq!(
            show(&Value::Time(crate::time::Timestamp::from_secs_nanos(17, 5))),
            "17.000000005"
        );
        assert_eq!(show(&Value::Str("a\x1bb")), escape::escape("a\x1bb"));
    }
}
