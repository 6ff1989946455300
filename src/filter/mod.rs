//! Display filters: the language of `-Y`/`--filter` and `check --forbid`, in the spirit of
//! Wireshark's (`ws.opcode == text && ws.text contains "error"`, `http.status >= 500`,
//! `flow.kind == sse`, `anomaly.severity == error`).
//!
//! This module owns the grammar ([`parse`], winnow, errors that point at the column), the
//! syntax tree and its canonical text ([`ast`]), the catalog of fields ([`fields`]: one name per
//! field, typed, documented, also what `sockscope fields` and docs/filter.md list), the type
//! checker and compiler ([`compile`]), and the evaluator over the [`FieldSource`] trait that the
//! record model implements ([`eval`]: each record type says its own fields by [`OwnFields`],
//! next to the record in `model/`, and `model::InFlow` adds those of its flow).
//!
//! It promises: a filter that compiles has every name resolved and every literal of the right
//! type; evaluation allocates nothing and never panics; no input makes the parser recurse more
//! than [`parse::MAX_DEPTH`] levels, and no regular expression compiles to more than
//! [`compile::REGEX_SIZE_LIMIT`] bytes. What a filter is tested against, and how printers apply
//! it, is the contract in docs/filter.md.

pub mod ast;
pub mod compile;
pub mod eval;
pub mod fields;
pub mod parse;

pub use eval::{Each, FieldSource, OwnFields, Value, one};
pub use fields::{FieldId, RecordSet, RecordType};

use std::fmt;

/// A compiled display filter.
#[derive(Clone)]
pub struct Filter {
    text: String,
    expr: ast::Expr,
    root: compile::Node,
    records: RecordSet,
    fields: Vec<FieldId>,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter").field("text", &self.text).finish()
    }
}

impl Filter {
    /// Parses, type-checks and compiles `text`.
    pub fn new(text: &str) -> Result<Filter, FilterError> {
        let err = |p: parse::Problem| FilterError::new(text, p);
        let expr = parse::parse(text).map_err(err)?;
        let compiled = compile::compile(&expr).map_err(err)?;
        let mut fields: Vec<FieldId> = expr
            .tests()
            .iter()
            .filter_map(|t| fields::lookup(&t.field.text).map(|r| r.id))
            .collect();
        fields.sort();
        fields.dedup();
        Ok(Filter {
            text: text.to_string(),
            expr,
            root: compiled.root,
            records: compiled.records,
            fields,
        })
    }

    /// The filter as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn expr(&self) -> &ast::Expr {
        &self.expr
    }

    /// The canonical text with every field under its catalog name (aliases resolved).
    pub fn canonical(&self) -> String {
        self.expr.print_with(&|name| match fields::lookup(name) {
            Some(r) => match (fields::def(r.id).key_prefix(), r.key) {
                (Some(prefix), Some(key)) => format!("{prefix}{key}"),
                _ => fields::def(r.id).name.to_string(),
            },
            None => name.to_string(),
        })
    }

    /// The record types the filter can match.
    pub fn records(&self) -> RecordSet {
        self.records
    }

    /// Whether the filter tests `field`.
    pub fn uses(&self, field: FieldId) -> bool {
        self.fields.binary_search(&field).is_ok()
    }

    /// The fields it tests, each once.
    pub fn fields(&self) -> &[FieldId] {
        &self.fields
    }

    /// Whether the filter looks into payloads (`ws.payload`, `ws.text`, `http.body`,
    /// `sse.data`), so that the run should keep whole payloads for display.
    pub fn reads_payloads(&self) -> bool {
        PAYLOAD_FIELDS.iter().any(|&id| self.uses(id))
    }

    /// Whether the record matches.
    pub fn matches<S: FieldSource + ?Sized>(&self, record: &S) -> bool {
        self.records.contains(record.record_type()) && eval::eval(&self.root, record)
    }
}

/// Fields whose values are the payload bytes kept for display.
const PAYLOAD_FIELDS: [FieldId; 4] = [
    FieldId::WsPayload,
    FieldId::WsText,
    FieldId::HttpBody,
    FieldId::SseData,
];

/// Why a filter was refused: the message and where in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    text: String,
    /// Byte offset.
    at: usize,
    message: String,
}

impl FilterError {
    fn new(text: &str, p: parse::Problem) -> FilterError {
        let at = p.at.min(text.len());
        let mut message = p.msg;
        if let Some((note, offset)) = p.note {
            let (line, col) = line_col(text, offset);
            message = format!("{message} {note} {line}:{col}");
        }
        FilterError {
            text: text.to_string(),
            at,
            message,
        }
    }

    /// Line and column (1-based, in characters) of the error.
    pub fn line_col(&self) -> (usize, usize) {
        line_col(&self.text, self.at)
    }

    /// Byte offset of the error in the filter.
    pub fn offset(&self) -> usize {
        self.at
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// `filter: 1:17: expected a value after `==``.
    pub fn headline(&self) -> String {
        let (line, col) = self.line_col();
        format!("filter: {line}:{col}: {}", self.message)
    }

    /// Two lines: the filter's line (escaped for the terminal, cut around the error when long)
    /// and a caret under the error, each indented by two spaces.
    pub fn caret(&self) -> String {
        use unicode_width::UnicodeWidthStr;
        let line_start = self.text[..self.at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[self.at..]
            .find('\n')
            .map_or(self.text.len(), |i| self.at + i);
        let line = &self.text[line_start..line_end];
        let col = self.at - line_start;
        // A window of the line around the error.
        const SIDE: usize = 60;
        let from = floor_char(line, col.saturating_sub(SIDE));
        let to = floor_char(line, (col + SIDE).min(line.len()));
        let to = if to < col { line.len() } else { to };
        let shown = |s: &str| crate::report::escape::escape(&s.replace('\t', " ")).into_owned();
        let mut before = shown(&line[from..col]);
        let mut after = shown(&line[col..to]);
        if from > 0 {
            before.insert(0, '…');
        }
        if to < line.len() {
            after.push('…');
        }
        format!(
            "  {before}{after}\n  {}^",
            " ".repeat(UnicodeWidthStr::width(before.as_str()))
        )
    }
}

/// The largest char boundary of `s` at or below `at`.
fn floor_char(s: &str, at: usize) -> usize {
    (0..=at.min(s.len()))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..floor_char(text, at)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}", self.headline(), self.caret())
    }
}

impl std::error::Error for FilterError {}

#[cfg(test)]
mod tests;
