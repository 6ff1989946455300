//! End-of-run tables (comfy-table): flows, header overhead with the "what if over HTTP" lines,
//! and anomalies grouped by code.
//!
//! Every table fits the width it is given ([`TableStyle::width`]) without ever splitting a token:
//! prose cells (meanings, examples) wrap between words; when even the longest tokens do not fit,
//! the least useful columns are left out first (each table names its order, and a note under
//! the table says what was left out), and only then are the longest cells cut with `…`. The
//! text under a table wraps to the same width.

use crate::model::flow::close_name;
use crate::model::{Code, FlowKind, FlowSummary, LatencyRecord, Severity};
use crate::report::hexdump::plural;
use crate::stats::zstats::ZTally;
use crate::stats::{Carrier, Cost, HeadSource, Overhead, RunStats, WhatIf, ratio, ratio_words};
use crate::tcp::identity::endpoint_text;
use crate::tcp::{CloseHow, FlowMeta};
use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::{Attribute, Cell, CellAlignment, Color, ContentArrangement, Table};
use std::collections::BTreeMap;
use std::fmt::Write as _;
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
    /// tshark's `tcp.stream` for the same connection.
    pub tcp_stream: u64,
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
        let messages = s.data_messages();
        FlowRow {
            id: meta.id,
            tcp_stream: meta.tcp_stream,
            kind: s.closed_kind(),
            polling: s.polling,
            client: endpoint_text(meta.client),
            server: endpoint_text(meta.server),
            duration: meta.last_ts.secs_since(meta.first_ts),
            messages,
            ping_rtt_ms: s.ping_rtt_ms(),
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
        // What a column can shrink to once its heading wraps between words.
        let mut wrapped = vec![0usize; n];
        for (i, col) in self.columns.iter().enumerate() {
            natural[i] = lines_width(col.header);
            // A heading is one token ("ping RTT" never becomes "ping / RTT"): columns give
            // way before a heading wraps. Prose columns' headings may wrap with their cells.
            least[i] = if col.prose {
                longest_word(col.header)
            } else {
                lines_width(col.header)
            };
            wrapped[i] = longest_word(col.header);
            for row in &self.rows {
                let text = &row[i].0;
                natural[i] = natural[i].max(lines_width(text));
                let cell = if col.prose {
                    longest_word(text)
                } else {
                    lines_width(text)
                };
                least[i] = least[i].max(cell);
                wrapped[i] = wrapped[i].max(cell);
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
        // Still too wide: wrap headings between words first, then narrow the widest column,
        // prose first, down to MIN_COLUMN.
        let mut excess = used - limit;
        while excess > 0 {
            let heading = (0..n)
                .filter_map(|i| widths[i].filter(|&w| w > wrapped[i]).map(|w| (w, i)))
                .max();
            if let Some((_, i)) = heading {
                if let Some(w) = &mut widths[i] {
                    *w -= 1;
                }
                excess -= 1;
                continue;
            }
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
        Column::new("tcp.stream").right().drop_rank(0),
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
            r.tcp_stream.to_string(),
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
    more_not_listed(&mut s, omitted, "flow", "a record for every flow", style);
    s
}

/// The line under a table that lists only its first rows: how many more there are and where.
fn more_not_listed(s: &mut String, omitted: u64, what: &str, where_: &str, style: TableStyle) {
    if omitted > 0 {
        s.push('\n');
        s.push_str(&fit_text(
            &format!(
                "… and {omitted} more {what}{} (not listed; --json has {where_})",
                plural(omitted)
            ),
            style,
        ));
    }
}

/// One column of the header-overhead table: its heading, how it gives way when the table is
/// too wide, and its cell. A column is added by adding one entry to [`OVERHEAD_COLUMNS`].
struct OverheadColumn {
    column: Column,
    cell: fn(&Overhead) -> String,
    /// Shown only when TLS added bytes: tables of plain captures stay as they were.
    tls: bool,
}

fn or_dash(x: Option<f64>, f: fn(f64) -> String) -> String {
    x.map_or_else(|| "-".to_string(), f)
}

/// The header-overhead table's columns after `kind`, in order.
const OVERHEAD_COLUMNS: &[OverheadColumn] = &[
    OverheadColumn {
        column: Column::new("flows").right().drop_rank(3),
        cell: |o| o.flows.to_string(),
        tls: false,
    },
    OverheadColumn {
        column: Column::new("messages").right(),
        cell: |o| o.messages.to_string(),
        tls: false,
    },
    OverheadColumn {
        column: Column::new("payload B").right(),
        cell: |o| o.payload_bytes.to_string(),
        tls: false,
    },
    OverheadColumn {
        column: Column::new("L7 header B").right(),
        cell: |o| o.l7_header_bytes.to_string(),
        tls: false,
    },
    OverheadColumn {
        column: Column::new("L7 B/msg").right().drop_rank(2),
        cell: |o| or_dash(o.header_bytes_per_message(), |x| format!("{x:.1}")),
        tls: false,
    },
    OverheadColumn {
        column: Column::new("TLS B").right().drop_rank(4),
        cell: |o| o.tls_bytes.to_string(),
        tls: true,
    },
    OverheadColumn {
        column: Column::new("TLS B/msg").right().drop_rank(2),
        cell: |o| or_dash(o.tls_bytes_per_message(), |x| format!("{x:.1}")),
        tls: true,
    },
    OverheadColumn {
        column: Column::new("TCP/IP header B").right().drop_rank(1),
        cell: |o| o.tcpip_header_bytes.to_string(),
        tls: false,
    },
    OverheadColumn {
        column: Column::new("TCP/IP B/pkt").right().drop_rank(0),
        cell: |o| or_dash(o.tcpip_bytes_per_packet(), |x| format!("{x:.1}")),
        tls: false,
    },
    OverheadColumn {
        column: Column::new("overhead %").right(),
        cell: |o| pct(o.overhead_pct()),
        tls: false,
    },
];

/// The columns shown: the TLS ones only when `tls`.
fn overhead_columns(tls: bool) -> impl Iterator<Item = &'static OverheadColumn> {
    OVERHEAD_COLUMNS.iter().filter(move |c| tls || !c.tls)
}

fn overhead_row(g: &mut Grid, label: &str, o: &Overhead, tls: bool) {
    let mut cells = vec![label.to_string()];
    cells.extend(overhead_columns(tls).map(|c| (c.cell)(o)));
    g.row(cells);
}

/// Text under a table, wrapped to the table's width.
fn fit_text(text: &str, style: TableStyle) -> String {
    match style.width {
        Some(w) => wrap_text(text, usize::from(w)),
        None => text.to_string(),
    }
}

/// The legend under the header-overhead table.
pub const OVERHEAD_LEGEND: &str = "payload: HTTP bodies, WebSocket payloads, SSE event data · \
     L7 header: HTTP heads, chunk framing, WebSocket frame headers, SSE field names and line ends\n\
     TCP/IP header: IP + TCP headers of every packet · overhead % = L7 header / payload · \
     request + response = 2 messages, each SSE event 1";

/// The header-overhead comparison table, then the "what if over HTTP" comparison of each
/// WebSocket flow.
pub fn overhead_table(stats: &RunStats, style: TableStyle) -> String {
    let total = stats.total_overhead();
    // The TLS columns appear when TLS added bytes: tables of plain captures stay as they were.
    let tls = total.tls_bytes > 0;
    let mut columns = vec![Column::new("kind")];
    columns.extend(overhead_columns(tls).map(|c| c.column));
    let mut g = Grid::new(columns);
    for (kind, o) in &stats.overhead {
        overhead_row(&mut g, kind.as_str(), o, tls);
    }
    overhead_row(&mut g, "total", &total, tls);
    let mut s = g.render(style);
    s.push('\n');
    s.push_str(&fit_text(OVERHEAD_LEGEND, style));
    if tls {
        s.push('\n');
        s.push_str(&fit_text(
            "TLS: record headers (5 B each), explicit IVs, tags or MACs, padding, the TLS 1.3 \
             content type byte, and the handshake: what https:// and wss:// add",
            style,
        ));
    }
    if stats.what_if.is_empty() {
        return s;
    }
    for w in stats.what_if.iter().take(WHAT_IF_LINES) {
        s.push_str("\n\n");
        s.push_str(&what_if(w, style));
    }
    let t = &stats.what_if_total;
    if t.flows > WHAT_IF_LINES as u64 {
        s.push_str("\n\n");
        s.push_str(&fit_text(
            &format!(
                "What if over HTTP? all {} WebSocket flows: {} messages client→server, {} \
                 server→client",
                t.flows, t.messages[0], t.messages[1]
            ),
            style,
        ));
        s.push('\n');
        s.push_str(&carriers_table(&t.costs, None, style));
    }
    s.push('\n');
    s.push_str(&fit_text(WHAT_IF_LEGEND, style));
    s
}

/// The legend under the "what if over HTTP" tables.
pub const WHAT_IF_LEGEND: &str = "client→server messages: one POST each, answered by a 204 · \
     short polling: a GET every --poll-interval, empty polls answered by a 204 · long polling: \
     a GET per server message · SSE: one GET, each server message an event · packets: one per \
     HTTP message, SSE event or WebSocket frame, at the flow's TCP/IP header bytes per packet";

/// A carrier's name in the "what if" table.
fn carrier_label(c: Carrier, poll_interval: Option<f64>) -> String {
    match c {
        Carrier::WebSocket => "WebSocket (captured)".to_string(),
        Carrier::ShortPolling => match poll_interval {
            Some(p) => format!("short polling ({} s)", trim_float(p)),
            None => "short polling".to_string(),
        },
        Carrier::LongPolling => "long polling".to_string(),
        Carrier::Sse => "SSE + POSTs".to_string(),
    }
}

/// Latency rows listed; the rest are counted in a closing line.
pub const LATENCY_ROWS_CAP: usize = 200;

/// One row of the latency table: a connection's statistics for one method / event, or for
/// the whole connection (`name` none).
#[derive(Clone, Debug)]
pub struct LatencyRow {
    pub flow: u64,
    pub protocol: &'static str,
    pub name: Option<String>,
    pub dir: Option<&'static str>,
    pub count: u64,
    pub errors: u64,
    pub unanswered: u64,
    /// p50, p90, p99, max, seconds.
    pub stats: [Option<f64>; 4],
}

impl LatencyRow {
    pub fn new(l: &LatencyRecord) -> Self {
        LatencyRow {
            flow: l.flow,
            protocol: l.protocol,
            name: l.name.clone(),
            dir: l.dir,
            count: l.count,
            errors: l.errors,
            unanswered: l.unanswered,
            stats: [l.p50, l.p90, l.p99, l.max],
        }
    }
}

/// Application latency: per flow, the whole connection then each method / event with its
/// direction, count, p50/p90/p99/max, errors and unanswered requests. `name` cells come from
/// the capture and are escaped by the caller.
pub fn latency_table(rows: &[LatencyRow], omitted: u64, style: TableStyle) -> String {
    let mut g = Grid::new(vec![
        Column::new("flow").right(),
        Column::new("protocol").drop_rank(3),
        Column::new("method / event"),
        Column::new("dir").drop_rank(2),
        Column::new("count").right(),
        Column::new("p50").right().drop_rank(4),
        Column::new("p90").right().drop_rank(1),
        Column::new("p99").right().drop_rank(5),
        Column::new("max").right(),
        Column::new("errors").right().drop_rank(6),
        Column::new("unanswered").right().drop_rank(7),
    ]);
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |s| format!("{:.3} ms", s * 1e3));
    for r in rows {
        g.row(vec![
            r.flow.to_string(),
            r.protocol.to_string(),
            r.name.clone().unwrap_or_else(|| "(all)".to_string()),
            match r.dir {
                Some("c2s") => "c→s".to_string(),
                Some(_) => "s→c".to_string(),
                None => String::new(),
            },
            r.count.to_string(),
            ms(r.stats[0]),
            ms(r.stats[1]),
            ms(r.stats[2]),
            ms(r.stats[3]),
            r.errors.to_string(),
            r.unanswered.to_string(),
        ]);
    }
    let mut s = g.render(style);
    more_not_listed(&mut s, omitted, "row", "a latency record for each", style);
    s
}

/// `1`, `0.5`, `2.25`: a number of seconds as given.
fn trim_float(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What each carrier costs, one row each; `w` gives the TCP/IP estimate and the poll interval.
fn carriers_table(costs: &[Cost; 4], w: Option<&WhatIf>, style: TableStyle) -> String {
    let mut g = Grid::new(vec![
        Column::new("sent as"),
        Column::new("requests").right().drop_rank(2),
        Column::new("L7 header B").right(),
        Column::new("against WebSocket").prose(),
        Column::new("packets").right().drop_rank(1),
        Column::new("TCP/IP header B").right().drop_rank(0),
    ]);
    let ws = costs[Carrier::WebSocket as usize].l7_header_bytes;
    for c in Carrier::ALL {
        let cost = &costs[c as usize];
        let against = match (c, ratio(cost.l7_header_bytes, ws)) {
            (Carrier::WebSocket, _) => "as captured".to_string(),
            (_, Some(r)) => ratio_words(r),
            (_, None) => "-".to_string(),
        };
        g.row(vec![
            carrier_label(c, w.map(|w| w.poll_interval)),
            cost.requests.to_string(),
            cost.l7_header_bytes.to_string(),
            against,
            cost.packets.to_string(),
            w.map_or_else(|| "-".to_string(), |w| w.tcpip_header_bytes(c).to_string()),
        ]);
    }
    g.render(style)
}

/// One WebSocket flow's "what if over HTTP" comparison: what its messages cost as captured, and
/// what they would have cost over HTTP, each way the server's messages could have travelled.
pub fn what_if(w: &WhatIf, style: TableStyle) -> String {
    let heads = match w.head_source {
        HeadSource::Flow => format!(
            "heads as its own HTTP requests ({} B) and responses ({} B)",
            w.request_head, w.response_head
        ),
        HeadSource::Upgrade => format!(
            "heads as its upgrade request ({} B) and 101 ({} B as a 200, {} B as a 204) without \
             their WebSocket headers",
            w.request_head, w.response_head, w.minimal_response_head
        ),
    };
    let head = format!(
        "What if over HTTP? flow {}: {} message{} client→server, {} server→client in {:.3} s \
         after the handshake; {heads}",
        w.flow,
        w.messages[0],
        plural(w.messages[0]),
        w.messages[1],
        w.duration,
    );
    let mut s = fit_text(&head, style);
    s.push('\n');
    s.push_str(&carriers_table(&w.costs, Some(w), style));
    s
}

/// tshark's `-z io,stat` and `-z conv,tcp`, when asked for: each a heading and a table (empty
/// when none was asked for).
pub fn z_tables(z: &ZTally, style: TableStyle) -> String {
    let mut s = String::new();
    let first = z.first.unwrap_or_default();
    if let Some(step) = z.io_interval_ns {
        let secs = step as f64 / 1e9;
        let duration = z.last.unwrap_or(first).secs_since(first);
        let _ = write!(
            s,
            "\nIO statistics (as tshark -z io,stat,{}): frames and bytes per {} s, {duration:.6} s in all\n",
            trim_float(secs),
            trim_float(secs),
        );
        let mut g = Grid::new(vec![
            Column::new("interval").right(),
            Column::new("frames").right(),
            Column::new("bytes").right(),
        ]);
        for (i, (frames, bytes)) in z.intervals.iter().enumerate() {
            let from = i as f64 * secs;
            let to = ((i + 1) as f64 * secs).min(duration.max(from));
            g.row(vec![
                format!("{} <> {}", trim_float(from), trim_float(to)),
                frames.to_string(),
                bytes.to_string(),
            ]);
        }
        s.push_str(&g.render(style));
        s.push('\n');
    }
    if z.conv_tcp {
        s.push_str("\nTCP conversations (as tshark -z conv,tcp), most bytes first; bytes are frame lengths\n");
        let mut g = Grid::new(vec![
            Column::new("address A"),
            Column::new("address B"),
            Column::new("frames A→B").right(),
            Column::new("bytes A→B").right(),
            Column::new("frames B→A").right(),
            Column::new("bytes B→A").right(),
            Column::new("frames").right().drop_rank(1),
            Column::new("bytes").right().drop_rank(2),
            Column::new("start").right(),
            Column::new("duration").right(),
        ]);
        for c in z.conversations_sorted() {
            g.row(vec![
                c.a.to_string(),
                c.b.to_string(),
                c.frames[0].to_string(),
                c.bytes[0].to_string(),
                c.frames[1].to_string(),
                c.bytes[1].to_string(),
                (c.frames[0] + c.frames[1]).to_string(),
                (c.bytes[0] + c.bytes[1]).to_string(),
                format!("{:.6}", c.first.secs_since(first)),
                format!("{:.4}", c.last.secs_since(c.first)),
            ]);
        }
        s.push_str(&g.render(style));
        s.push('\n');
    }
    if z.http_tree {
        let requests: u64 = z.requests.values().sum();
        let responses: u64 = z.responses.values().map(|r| r.1).sum();
        let _ = writeln!(
            s,
            "\nHTTP messages (as tshark -z http,tree): {} in all",
            requests + responses
        );
        let mut g = Grid::new(vec![
            Column::new("topic / item"),
            Column::new("count").right(),
        ]);
        g.row(vec!["requests".to_string(), requests.to_string()]);
        let mut methods: Vec<(&String, &u64)> = z.requests.iter().collect();
        methods.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (method, n) in methods {
            g.row(vec![
                format!("· {}", crate::report::escape::esc(method)),
                n.to_string(),
            ]);
        }
        g.row(vec!["responses".to_string(), responses.to_string()]);
        for class in 1..=5u16 {
            let in_class: Vec<(&u16, &(String, u64))> = z
                .responses
                .iter()
                .filter(|(code, _)| **code / 100 == class)
                .collect();
            let n: u64 = in_class.iter().map(|(_, r)| r.1).sum();
            if n == 0 {
                continue;
            }
            let name = [
                "Informational",
                "Success",
                "Redirection",
                "Client Error",
                "Server Error",
            ][usize::from(class - 1)];
            g.row(vec![format!("· {class}xx: {name}"), n.to_string()]);
            for (code, (reason, n)) in in_class {
                g.row(vec![
                    format!("· · {code} {}", crate::report::escape::esc(reason)),
                    n.to_string(),
                ]);
            }
        }
        s.push_str(&g.render(style));
        s.push('\n');
    }
    if z.left_out > 0 {
        let _ = writeln!(
            s,
            "note: {} frames not counted in the -z statistics for lack of room",
            z.left_out
        );
    }
    s
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
            tcp_stream: 0,
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
    fn the_latency_table_leaves_out_the_least_useful_columns_first() {
        let row = |name: Option<&str>, dir| LatencyRow {
            flow: 12,
            protocol: "socket.io",
            name: name.map(str::to_string),
            dir,
            count: 3,
            errors: 1,
            unanswered: 0,
            stats: [Some(0.000_612), Some(0.0123), Some(0.0123), Some(1.5)],
        };
        let rows = [row(None, None), row(Some("chat message"), Some("c2s"))];
        let wide = latency_table(&rows, 0, style(Some(200)));
        assert!(
            wide.contains("0.612 ms") && wide.contains("1500.000 ms"),
            "{wide}"
        );
        assert!(wide.contains("(all)") && wide.contains("c→s"), "{wide}");
        for width in [40u16, 60, 80, 100] {
            let t = latency_table(&rows, 0, style(Some(width)));
            assert!(max_width(&t) <= usize::from(width), "{width}:\n{t}");
            // The name and the maximum stay; p90 goes first.
            assert!(
                t.contains("chat") && t.contains("1500.000"),
                "{width}:\n{t}"
            );
            if width < 100 {
                assert!(!t.contains("┆ p90"), "{width}:\n{t}");
                let note = t.split("(not shown for lack of width: ").nth(1);
                assert!(note.is_some_and(|n| n.contains("p90")), "{width}:\n{t}");
            }
        }
        let more = latency_table(&rows, 7, style(Some(120)));
        assert!(more.contains("… and 7 more rows"), "{more}");
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
            assert!(words.ends_with(&["SSE", "event", "1"]), "{width}: {t}");
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
