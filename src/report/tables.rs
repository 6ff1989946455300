//! End-of-run tables (comfy-table): flows, header overhead with the "what if over HTTP" lines,
//! and anomalies grouped by code.
//!
//! Every table fits the width it is given ([`TableStyle::width`]) without ever splitting a token:
//! prose cells (meanings, examples) wrap between words; when even the longest tokens do not fit,
//! the least useful columns are left out first (each table names its order, and a note under
//! the table says what was left out), and only then are the longest cells cut with `…`. The
//! text under a table wraps to the same width.

use crate::model::flow::{close_name, mean};
use crate::model::{Code, FlowKind, FlowSummary, Severity};
use crate::report::hexdump::plural;
use crate::stats::{Overhead, RunStats, WhatIf, flow_messages};
use crate::tcp::{CloseHow, FlowMeta};
use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::{Attribute, Cell, CellAlignment, Color, ContentArrangement, Table};
use std::collections::BTreeMap;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Flows listed in the flows table; the rest are counted in a closing line.
pub const FLOW_ROWS_CAP: usize = 200;
/// "What if over HTTP" lines printed one by one; all WebSocket flows are summed in a last line.
pub const WHAT_IF_LINES: usize = 10;
/// Anomaly examples kept per code for the anomaly list.
pub const EXAMPLES_PER_CODE: usize = 3;
/// The width tables fit when the output is not a terminal and `COLUMNS` is not set: wide
/// enough for the flows table of an IPv4 capture, narrow enough to read in a CI log.
pub const PIPE_WIDTH: u16 = 120;
/// Narrowest a column is cut to when nothing else helps.
const MIN_COLUMN: usize = 4;

/// One row of the flows table, kept from the flow's `FlowClosed` event.
#[derive(Clone, Debug)]
pub struct FlowRow {
    pub id: u64,
    pub kind: FlowKind,
    /// An `http` flow that is short polling.
    pub polling: bool,
    pub client: String,
    pub server: String,
    pub duration: f64,
    pub messages: [u64; 2],
    pub ping_rtt_ms: Option<f64>,
    pub anomalies: u64,
    pub end: &'static str,
}

impl FlowRow {
    pub fn new(meta: &FlowMeta, s: &FlowSummary, how: CloseHow) -> Self {
        let mut messages = s.messages;
        if s.handshake_complete {
            // The upgrade request and its 101 are the handshake, not messages. The 101 was
            // counted (it completed the handshake); the request was not if it did not parse.
            let handshake = s.http_messages.min(2);
            messages[1] = messages[1].saturating_sub(handshake.min(1));
            messages[0] = messages[0].saturating_sub(handshake.saturating_sub(1));
        }
        debug_assert_eq!(messages[0] + messages[1], flow_messages(s));
        FlowRow {
            id: meta.id,
            kind: s.kind.unwrap_or(FlowKind::Other),
            polling: s.polling,
            client: meta.client.to_string(),
            server: meta.server.to_string(),
            duration: meta.last_ts.secs_since(meta.first_ts),
            messages,
            ping_rtt_ms: mean(&s.ping_rtts).map(|x| x * 1e3),
            anomalies: s.anomalies,
            end: close_name(how).1,
        }
    }
}

/// Table appearance.
#[derive(Clone, Copy, Debug)]
pub struct TableStyle {
    /// Box-drawing characters (UTF-8) or plain ASCII.
    pub unicode: bool,
    /// Width to fit (terminal columns, `COLUMNS`, or [`PIPE_WIDTH`]); `None`: as wide as the
    /// content.
    pub width: Option<u16>,
    /// Colour severities (red errors, yellow warnings).
    pub color: bool,
}

/// A column: how it is aligned, whether its cells are prose that may wrap between words, and
/// when it is left out for lack of width.
#[derive(Clone, Copy, Debug)]
struct Column {
    header: &'static str,
    right: bool,
    prose: bool,
    /// Columns are left out in increasing order of this rank; `None`: always shown.
    drop_rank: Option<u8>,
}

impl Column {
    const fn new(header: &'static str) -> Self {
        Column {
            header,
            right: false,
            prose: false,
            drop_rank: None,
        }
    }
    const fn right(mut self) -> Self {
        self.right = true;
        self
    }
    const fn prose(mut self) -> Self {
        self.prose = true;
        self
    }
    const fn drop_rank(mut self, rank: u8) -> Self {
        self.drop_rank = Some(rank);
        self
    }
}

/// A table before it is fitted: plain text cells, each optionally painted by a severity.
struct Grid {
    columns: Vec<Column>,
    rows: Vec<Vec<(String, Option<Severity>)>>,
}

impl Grid {
    fn new(columns: Vec<Column>) -> Self {
        Grid {
            columns,
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.into_iter().map(|c| (c, None)).collect());
    }

    /// The table fitted to `style.width`, and a note naming the columns left out.
    fn render(&self, style: TableStyle) -> String {
        let widths = self.fit(style.width.map(usize::from));
        let mut t = Table::new();
        t.load_style(if style.unicode {
            UTF8_FULL_CONDENSED
        } else {
            ASCII_MARKDOWN
        });
        // The content is laid out here; comfy-table only draws it.
        t.set_content_arrangement(ContentArrangement::Disabled);
        if style.color {
            t.enforce_styling();
        }
        let shown: Vec<(usize, usize)> = widths
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.map(|w| (i, w)))
            .collect();
        t.set_header(
            shown
                .iter()
                .map(|&(i, w)| Cell::new(wrap_words(self.columns[i].header, w))),
        );
        for row in &self.rows {
            t.add_row(shown.iter().map(|&(i, w)| {
                let (text, paint) = &row[i];
                let mut cell = Cell::new(wrap_words(text, w));
                if self.columns[i].right {
                    cell = cell.set_alignment(CellAlignment::Right);
                }
                match paint {
                    Some(sev) if style.color => paint_severity(cell, *sev),
                    _ => cell,
                }
            }));
        }
        let mut s = t.to_string();
        let left_out: Vec<&str> = widths
            .iter()
            .zip(&self.columns)
            .filter(|(w, _)| w.is_none())
            .map(|(_, c)| c.header)
            .collect();
        if !left_out.is_empty() {
            s.push('\n');
            s.push_str(&fit_text(
                &format!("(not shown for lack of width: {})", left_out.join(", ")),
                style,
            ));
        }
        s
    }

    /// Each column's width, `None` for a column left out.
    fn fit(&self, limit: Option<usize>) -> Vec<Option<usize>> {
        let n = self.columns.len();
        let mut natural = vec![0usize; n];
        let mut least = vec![0usize; n];
        for (i, col) in self.columns.iter().enumerate() {
            natural[i] = lines_width(col.header);
            least[i] = longest_word(col.header);
            for row in &self.rows {
                let text = &row[i].0;
                natural[i] = natural[i].max(lines_width(text));
                least[i] = least[i].max(if col.prose {
                    longest_word(text)
                } else {
                    lines_width(text)
                });
            }
        }
        let Some(limit) = limit else {
            return natural.into_iter().map(Some).collect();
        };
        // Each shown column costs its width plus a border and two spaces; one border closes.
        let total =
            |w: &[Option<usize>]| -> usize { 1 + w.iter().flatten().map(|w| w + 3).sum::<usize>() };
        let mut widths: Vec<Option<usize>> = natural.iter().copied().map(Some).collect();
        if total(&widths) <= limit {
            return widths;
        }
        widths = least.iter().copied().map(Some).collect();
        let mut droppable: Vec<usize> = (0..n)
            .filter(|&i| self.columns[i].drop_rank.is_some())
            .collect();
        droppable.sort_by_key(|&i| self.columns[i].drop_rank);
        for i in droppable {
            if total(&widths) <= limit {
                break;
            }
            widths[i] = None;
        }
        let used = total(&widths);
        if used <= limit {
            // Share the room left among the columns that would use it, by how much they would.
            let spare = limit - used;
            let want: usize = (0..n)
                .filter_map(|i| widths[i].map(|w| natural[i] - w))
                .sum();
            let mut given = 0;
            for i in 0..n {
                if let Some(w) = &mut widths[i] {
                    let short = natural[i] - *w;
                    let more = (spare * short).checked_div(want).unwrap_or(0).min(short);
                    *w += more;
                    given += more;
                }
            }
            // What rounding left over goes one column at a time to those still short.
            let mut left = spare.min(want) - given;
            while left > 0 {
                let short = (0..n).find(|&i| widths[i].is_some_and(|w| w < natural[i]));
                let Some(w) = short.and_then(|i| widths[i].as_mut()) else {
                    break;
                };
                *w += 1;
                left -= 1;
            }
            return widths;
        }
        // Still too wide: narrow the widest column, prose first, down to MIN_COLUMN.
        let mut excess = used - limit;
        while excess > 0 {
            let pick = |prose: bool| {
                (0..n)
                    .filter(|&i| self.columns[i].prose == prose)
                    .filter_map(|i| widths[i].filter(|&w| w > MIN_COLUMN).map(|w| (w, i)))
                    .max()
            };
            let Some((_, i)) = pick(true).or_else(|| pick(false)) else {
                break;
            };
            if let Some(w) = &mut widths[i] {
                *w -= 1;
            }
            excess -= 1;
        }
        widths
    }
}

fn paint_severity(cell: Cell, sev: Severity) -> Cell {
    match sev {
        Severity::Error => cell.fg(Color::Red).add_attribute(Attribute::Bold),
        Severity::Warning => cell.fg(Color::Yellow),
        Severity::Info => cell,
    }
}

/// Display width of the widest line of `s`.
fn lines_width(s: &str) -> usize {
    s.lines().map(UnicodeWidthStr::width).max().unwrap_or(0)
}

/// Display width of the longest space-separated word of `s`.
fn longest_word(s: &str) -> usize {
    s.split_whitespace()
        .map(UnicodeWidthStr::width)
        .max()
        .unwrap_or(0)
}

/// `word` cut to `width` columns, ending in `…` when cut.
fn cut(word: &str, width: usize) -> String {
    if word.width() <= width {
        return word.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in word.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `text` wrapped to `width` columns between words; each line keeps its indentation, and its
/// continuation lines are indented two more. A word longer than a line is cut with `…`.
pub fn wrap_text(text: &str, width: usize) -> String {
    let mut out = String::new();
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let hang = if indent + 2 <= width / 2 {
            indent + 2
        } else {
            0
        };
        // Columns used on the output line so far; `None` before its first word.
        let mut col: Option<usize> = None;
        for word in line.split_whitespace() {
            let lead = match col {
                Some(c) if c + 1 + word.width() <= width => {
                    out.push(' ');
                    out.push_str(word);
                    col = Some(c + 1 + word.width());
                    continue;
                }
                Some(_) => {
                    out.push('\n');
                    hang
                }
                None => indent,
            };
            let word = cut(word, width.saturating_sub(lead).max(1));
            out.extend(std::iter::repeat_n(' ', lead));
            out.push_str(&word);
            col = Some(lead + word.width());
        }
    }
    out
}

/// A cell's text wrapped to `width` between words (existing line breaks kept), long words cut.
fn wrap_words(text: &str, width: usize) -> String {
    let mut out = String::new();
    for (n, line) in text.lines().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let mut col = 0;
        for word in line.split_whitespace() {
            let word = cut(word, width);
            let w = word.width();
            if col > 0 && col + 1 + w > width {
                out.push('\n');
                col = 0;
            }
            if col > 0 {
                out.push(' ');
                col += 1;
            }
            out.push_str(&word);
            col += w;
        }
    }
    out
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |p| format!("{p:.1}%"))
}

pub fn flows_table(rows: &[FlowRow], omitted: u64, style: TableStyle) -> String {
    let mut g = Grid::new(vec![
        Column::new("flow").right(),
        Column::new("kind"),
        Column::new("client"),
        Column::new("server"),
        Column::new("duration").right().drop_rank(3),
        Column::new("msgs c→s").right().drop_rank(5),
        Column::new("msgs s→c").right().drop_rank(4),
        Column::new("ping RTT").right().drop_rank(2),
        Column::new("anomalies").right().drop_rank(6),
        Column::new("end").drop_rank(1),
    ]);
    for r in rows {
        g.row(vec![
            r.id.to_string(),
            if r.polling {
                "http (polling)".to_string()
            } else {
                r.kind.as_str().to_string()
            },
            r.client.clone(),
            r.server.clone(),
            format!("{:.3}s", r.duration),
            r.messages[0].to_string(),
            r.messages[1].to_string(),
            r.ping_rtt_ms
                .map_or_else(|| "-".to_string(), |ms| format!("{ms:.3} ms")),
            r.anomalies.to_string(),
            r.end.to_string(),
        ]);
    }
    let mut s = g.render(style);
    if omitted > 0 {
        s.push('\n');
        s.push_str(&fit_text(
            &format!(
                "… and {omitted} more flow{} (not listed; --json has a record for every flow)",
                plural(omitted)
            ),
            style,
        ));
    }
    s
}

fn overhead_row(g: &mut Grid, label: &str, o: &Overhead, tls: bool) {
    let per = |x: Option<f64>| x.map_or_else(|| "-".into(), |x| format!("{x:.1}"));
    let mut row = vec![
        label.to_string(),
        o.flows.to_string(),
        o.messages.to_string(),
        o.payload_bytes.to_string(),
        o.l7_header_bytes.to_string(),
        per(o.header_bytes_per_message()),
    ];
    if tls {
        row.push(o.tls_bytes.to_string());
        row.push(per(o.tls_bytes_per_message()));
    }
    row.push(o.tcpip_header_bytes.to_string());
    row.push(pct(o.overhead_pct()));
    g.row(row);
}

/// Text under a table, wrapped to the table's width.
fn fit_text(text: &str, style: TableStyle) -> String {
    match style.width {
        Some(w) => wrap_text(text, usize::from(w)),
        None => text.to_string(),
    }
}

/// The header-overhead comparison table, then one "what if" line per WebSocket flow.
pub fn overhead_table(stats: &RunStats, style: TableStyle) -> String {
    let total = stats.total_overhead();
    // The TLS columns appear when TLS added bytes: tables of plain captures stay as they were.
    let tls = total.tls_bytes > 0;
    let mut columns = vec![
        Column::new("kind"),
        Column::new("flows").right().drop_rank(3),
        Column::new("messages").right(),
        Column::new("payload B").right(),
        Column::new("L7 header B").right(),
        Column::new("L7 B/msg").right().drop_rank(2),
    ];
    if tls {
        columns.push(Column::new("TLS B").right().drop_rank(4));
        columns.push(Column::new("TLS B/msg").right().drop_rank(2));
    }
    columns.push(Column::new("TCP/IP header B").right().drop_rank(1));
    columns.push(Column::new("overhead %").right());
    let mut g = Grid::new(columns);
    for (kind, o) in &stats.overhead {
        overhead_row(&mut g, kind.as_str(), o, tls);
    }
    overhead_row(&mut g, "total", &total, tls);
    let mut s = g.render(style);
    let mut text = String::from(
        "payload: HTTP bodies, WebSocket payloads · L7 header: HTTP heads, chunk framing, \
         WebSocket frame headers\nTCP/IP header: IP + TCP headers of every packet · \
         overhead % = L7 header / payload · request + response = 2 messages",
    );
    if tls {
        text.push_str(
            "\nTLS: record headers (5 B each), explicit IVs, tags or MACs, padding, the TLS 1.3 \
             content type byte, and the handshake: what https:// and wss:// add",
        );
    }
    if !stats.what_if.is_empty() {
        text.push_str(
            "\n\nWhat if over HTTP? (each WebSocket message sent as one HTTP request + response)",
        );
    }
    for w in stats.what_if.iter().take(WHAT_IF_LINES) {
        text.push('\n');
        text.push_str(&what_if_line(w));
    }
    let t = &stats.what_if_total;
    if t.flows > WHAT_IF_LINES as u64 {
        text.push_str(&format!(
            "\n  all {} WebSocket flows: {} messages cost {} B of headers; as HTTP ~{} B{}",
            t.flows,
            t.messages,
            t.actual_l7_header_bytes,
            t.http_l7_header_bytes,
            if t.actual_l7_header_bytes > 0 {
                format!(
                    ", {:.1}× more",
                    t.http_l7_header_bytes as f64 / t.actual_l7_header_bytes as f64
                )
            } else {
                String::new()
            }
        ));
    }
    s.push('\n');
    s.push_str(&fit_text(&text, style));
    s
}

/// One "what if over HTTP" line: what the flow's messages cost in headers, and what they would
/// have cost as HTTP exchanges with heads as large as the flow's own upgrade.
pub fn what_if_line(w: &WhatIf) -> String {
    let frames = w
        .actual_l7_header_bytes
        .saturating_sub(w.http_bytes_per_message);
    match w.ratio() {
        Some(r) if w.messages > 0 => {
            let label = format!("  flow {}: ", w.flow);
            format!(
                "{label}{} message{} cost {} B of headers ({} B handshake + {} B frame headers)\n\
                 {:width$}as HTTP: {} × {} B (heads as large as its upgrade request + 101) = {} B, \
                 {:.1}× more",
                w.messages,
                plural(w.messages),
                w.actual_l7_header_bytes,
                w.http_bytes_per_message,
                frames,
                "",
                w.messages,
                w.http_bytes_per_message,
                w.http_l7_header_bytes,
                r,
                width = label.chars().count()
            )
        }
        _ => format!(
            "  flow {}: no data messages after the handshake ({} B of headers)",
            w.flow, w.actual_l7_header_bytes
        ),
    }
}

/// Anomalies grouped by code: count, severity, description and a few examples.
pub fn anomalies_table(
    counts: &BTreeMap<Code, u64>,
    examples: &BTreeMap<Code, Vec<String>>,
    style: TableStyle,
) -> String {
    let mut g = Grid::new(vec![
        Column::new("code"),
        Column::new("severity").drop_rank(2),
        Column::new("count").right().drop_rank(3),
        Column::new("meaning").prose().drop_rank(1),
        Column::new("examples").prose(),
    ]);
    for (code, n) in counts {
        let ex = examples.get(code).map(|v| v.join("\n")).unwrap_or_default();
        let sev = Some(code.severity());
        g.rows.push(vec![
            (code.as_str().to_string(), sev),
            (code.severity().as_str().to_string(), sev),
            (n.to_string(), None),
            (code.description().to_string(), None),
            (ex, None),
        ]);
    }
    g.render(style)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(width: Option<u16>) -> TableStyle {
        TableStyle {
            unicode: true,
            width,
            color: false,
        }
    }

    fn rows() -> Vec<FlowRow> {
        vec![FlowRow {
            id: 1,
            kind: FlowKind::WebSocket,
            polling: false,
            client: "192.0.2.1:45974".into(),
            server: "192.0.2.80:80".into(),
            duration: 0.034,
            messages: [1, 1],
            ping_rtt_ms: None,
            anomalies: 1,
            end: "fin",
        }]
    }

    fn max_width(s: &str) -> usize {
        s.lines().map(UnicodeWidthStr::width).max().unwrap_or(0)
    }

    #[test]
    fn a_table_that_fits_is_drawn_as_it_is() {
        let wide = flows_table(&rows(), 0, style(None));
        assert_eq!(flows_table(&rows(), 0, style(Some(200))), wide);
        assert!(wide.contains("192.0.2.1:45974"));
        assert!(wide.contains("msgs c→s"));
    }

    /// The cells of a drawn table's body rows.
    fn body_cells(t: &str) -> Vec<String> {
        t.lines()
            .skip(3)
            .filter(|l| l.starts_with('│'))
            .flat_map(|l| l.split(['│', '┆']).map(|c| c.trim().to_string()))
            .filter(|c| !c.is_empty())
            .collect()
    }

    #[test]
    fn narrow_tables_leave_out_columns_and_never_split_a_token() {
        let whole = [
            "1",
            "websocket",
            "192.0.2.1:45974",
            "192.0.2.80:80",
            "0.034s",
            "-",
            "fin",
        ];
        for width in [30u16, 40, 60, 80, 100] {
            let t = flows_table(&rows(), 0, style(Some(width)));
            assert!(max_width(&t) <= usize::from(width), "{width}:\n{t}");
            for cell in body_cells(&t) {
                assert!(
                    whole.contains(&cell.as_str()) || cell.ends_with('…'),
                    "{width}: `{cell}` is a piece of a token:\n{t}"
                );
            }
            if width >= 60 {
                for token in ["192.0.2.1:45974", "192.0.2.80:80", "websocket"] {
                    assert!(t.contains(token), "{width}: {token} cut:\n{t}");
                }
            }
        }
        let t = flows_table(&rows(), 0, style(Some(60)));
        assert!(t.contains("(not shown for lack of width: "), "{t}");
        assert!(!t.contains("┆ fin"), "{t}");
    }

    #[test]
    fn leaving_a_wide_column_out_can_leave_room_to_spare() {
        let mut g = Grid::new(vec![
            Column::new("a"),
            Column::new("b").prose(),
            Column::new("wide").drop_rank(1),
        ]);
        g.row(vec!["x".into(), "one two".into(), "w".repeat(40)]);
        let t = g.render(style(Some(30)));
        assert!(max_width(&t) <= 30, "{t}");
        assert!(t.contains("one two"), "{t}");
        let words = t.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains("(not shown for lack of width: wide)"), "{t}");
    }

    #[test]
    fn the_overhead_table_and_its_legend_fit() {
        let stats = RunStats::default();
        for width in [50u16, 60, 80] {
            let t = overhead_table(&stats, style(Some(width)));
            assert!(max_width(&t) <= usize::from(width), "{width}:\n{t}");
            let words: Vec<&str> = t.split_whitespace().collect();
            assert!(words.ends_with(&["=", "2", "messages"]), "{width}: {t}");
            assert!(words.contains(&"overhead"), "{t}");
        }
    }

    #[test]
    fn anomaly_examples_wrap_between_words() {
        let counts = BTreeMap::from([(Code::WsMaskedServerFrame, 1)]);
        let examples = BTreeMap::from([(
            Code::WsMaskedServerFrame,
            vec!["flow 1, pkt 11: text server frame with mask".to_string()],
        )]);
        let wide = anomalies_table(&counts, &examples, style(None));
        assert!(wide.contains("flow 1, pkt 11: text server frame with mask"));
        for width in [60u16, 80, 120] {
            let t = anomalies_table(&counts, &examples, style(Some(width)));
            assert!(max_width(&t) <= usize::from(width), "{width}:\n{t}");
            assert!(t.contains("ws.masked_server_frame"), "{width}:\n{t}");
            for word in ["server", "frame", "mask", "pkt"] {
                assert!(t.contains(word), "{width}: {word}:\n{t}");
            }
        }
        // Far too narrow: cells are cut, marked, and still within the width.
        let t = anomalies_table(&counts, &examples, style(Some(24)));
        assert!(max_width(&t) <= 24, "{t}");
        assert!(t.contains('…'), "{t}");
    }

    #[test]
    fn wrapped_text_keeps_indentation_and_words() {
        let text = "  flow 1: 10 messages cost 482 B of headers (422 B handshake + 60 B frames)";
        let w = wrap_text(text, 40);
        assert!(max_width(&w) <= 40, "{w}");
        assert!(w.starts_with("  flow 1: "), "{w}");
        for line in w.lines().skip(1) {
            assert!(
                line.starts_with("    ") && !line.starts_with("     "),
                "{w}"
            );
        }
        let words: Vec<&str> = w.split_whitespace().collect();
        assert_eq!(words, text.split_whitespace().collect::<Vec<_>>());
        assert_eq!(wrap_text("short", 40), "short");
        assert_eq!(wrap_text("a\n\nb", 40), "a\n\nb");
    }

    use crate::tcp::RoleBasis;
    use crate::time::Timestamp;

    fn row(http_messages: u64, messages: [u64; 2]) -> FlowRow {
        let meta = FlowMeta::new(
            1,
            ([10, 0, 0, 1], 5000).into(),
            ([10, 0, 0, 2], 80).into(),
            RoleBasis::Syn,
            Timestamp::ZERO,
        );
        let s = FlowSummary {
            kind: Some(FlowKind::WebSocket),
            handshake_complete: true,
            http_messages,
            ws_messages: 10,
            messages,
            ..FlowSummary::default()
        };
        FlowRow::new(&meta, &s, CloseHow::Fin)
    }

    #[test]
    fn the_handshake_is_not_counted_as_messages() {
        // Upgrade request + 101, 4 client and 6 server WebSocket messages.
        assert_eq!(row(2, [5, 7]).messages, [4, 6]);
        // An upgrade request that did not parse was never counted: only the 101 is taken off.
        assert_eq!(row(1, [4, 7]).messages, [4, 6]);
    }
}
