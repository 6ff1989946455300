//! End-of-run tables (comfy-table): flows, header overhead with the "what if over HTTP" lines,
//! and anomalies grouped by code. Tables adapt to the terminal width when printing to one.

use crate::proto::{Code, FlowKind, FlowSummary, Severity};
use crate::report::hexdump::plural;
use crate::report::json::{close_name, mean};
use crate::stats::{Overhead, RunStats, WhatIf, flow_messages};
use crate::tcp::{CloseHow, FlowMeta};
use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::{Attribute, Cell, CellAlignment, Color, ContentArrangement, Table};
use std::collections::BTreeMap;

/// Flows listed in the flows table; the rest are counted in a closing line.
pub const FLOW_ROWS_CAP: usize = 200;
/// "What if over HTTP" lines printed one by one; all WebSocket flows are summed in a last line.
pub const WHAT_IF_LINES: usize = 10;
/// Anomaly examples kept per code for the anomaly list.
pub const EXAMPLES_PER_CODE: usize = 3;

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
            // The upgrade request and its 101 are the handshake, not messages.
            messages[0] = messages[0].saturating_sub(1);
            messages[1] = messages[1].saturating_sub(1);
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
    /// Terminal width to fit, when printing to a terminal.
    pub width: Option<u16>,
    /// Colour severities (red errors, yellow warnings).
    pub color: bool,
}

fn new_table(style: TableStyle) -> Table {
    let mut t = Table::new();
    t.load_style(if style.unicode {
        UTF8_FULL_CONDENSED
    } else {
        ASCII_MARKDOWN
    });
    match style.width {
        Some(w) => {
            t.set_width(w);
            t.set_content_arrangement(ContentArrangement::Dynamic);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t
}

fn right(s: impl ToString) -> Cell {
    Cell::new(s.to_string()).set_alignment(CellAlignment::Right)
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |p| format!("{p:.1}%"))
}

pub fn flows_table(rows: &[FlowRow], omitted: u64, style: TableStyle) -> String {
    let mut t = new_table(style);
    t.set_header(vec![
        "flow",
        "kind",
        "client",
        "server",
        "duration",
        "msgs c→s",
        "msgs s→c",
        "ping RTT",
        "anomalies",
        "end",
    ]);
    for r in rows {
        t.add_row(vec![
            right(r.id),
            Cell::new(if r.polling {
                "http (polling)"
            } else {
                r.kind.as_str()
            }),
            Cell::new(&r.client),
            Cell::new(&r.server),
            right(format!("{:.3}s", r.duration)),
            right(r.messages[0]),
            right(r.messages[1]),
            right(
                r.ping_rtt_ms
                    .map_or_else(|| "-".to_string(), |ms| format!("{ms:.3} ms")),
            ),
            right(r.anomalies),
            Cell::new(r.end),
        ]);
    }
    let mut s = t.to_string();
    if omitted > 0 {
        s.push_str(&format!(
            "\n… and {omitted} more flow{} (not listed; --json has a record for every flow)",
            plural(omitted)
        ));
    }
    s
}

fn overhead_row(t: &mut Table, label: &str, o: &Overhead) {
    t.add_row(vec![
        Cell::new(label),
        right(o.flows),
        right(o.messages),
        right(o.payload_bytes),
        right(o.l7_header_bytes),
        right(
            o.header_bytes_per_message()
                .map_or_else(|| "-".into(), |x| format!("{x:.1}")),
        ),
        right(o.tcpip_header_bytes),
        right(pct(o.overhead_pct())),
    ]);
}

/// The header-overhead comparison table, then one "what if" line per WebSocket flow.
pub fn overhead_table(stats: &RunStats, style: TableStyle) -> String {
    let mut t = new_table(style);
    t.set_header(vec![
        "kind",
        "flows",
        "messages",
        "payload B",
        "L7 header B",
        "L7 B/msg",
        "TCP/IP header B",
        "overhead %",
    ]);
    for (kind, o) in &stats.overhead {
        overhead_row(&mut t, kind.as_str(), o);
    }
    overhead_row(&mut t, "total", &stats.total_overhead());
    let mut s = t.to_string();
    s.push_str(
        "\npayload: HTTP bodies, WebSocket payloads · L7 header: HTTP heads, chunk framing, \
         WebSocket frame headers\nTCP/IP header: IP + TCP headers of every packet · \
         overhead % = L7 header / payload · request + response = 2 messages",
    );
    if !stats.what_if.is_empty() {
        s.push_str(
            "\n\nWhat if over HTTP? (each WebSocket message sent as one HTTP request + response)",
        );
    }
    for w in stats.what_if.iter().take(WHAT_IF_LINES) {
        s.push('\n');
        s.push_str(&what_if_line(w));
    }
    let t = &stats.what_if_total;
    if t.flows > WHAT_IF_LINES as u64 {
        s.push_str(&format!(
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
    let mut t = new_table(style);
    if style.color {
        t.enforce_styling();
    }
    t.set_header(vec!["code", "severity", "count", "meaning", "examples"]);
    for (code, n) in counts {
        let ex = examples.get(code).map(|v| v.join("\n")).unwrap_or_default();
        let paint = |cell: Cell| {
            if !style.color {
                return cell;
            }
            match code.severity() {
                Severity::Error => cell.fg(Color::Red).add_attribute(Attribute::Bold),
                Severity::Warning => cell.fg(Color::Yellow),
                Severity::Info => cell,
            }
        };
        t.add_row(vec![
            paint(Cell::new(code.as_str())),
            paint(Cell::new(code.severity().as_str())),
            right(n),
            Cell::new(code.description()),
            Cell::new(ex),
        ]);
    }
    t.to_string()
}
