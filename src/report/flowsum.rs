//! The short summary of one flow that ends `--follow` and `--ladder`: what the flow was, how
//! long it lasted and how it ended, what each side sent, and what it cost in headers.

use crate::model::{Code, FlowSummary};
use crate::report::hexdump::plural;
use crate::report::style::{Paint, Style};
use crate::report::tables::FlowRow;
use crate::stats::Overhead;
use crate::tcp::{CloseHow, FlowMeta, RoleBasis};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How sockscope told client from server, in words.
pub fn roles(basis: RoleBasis) -> &'static str {
    match basis {
        RoleBasis::Syn => "the client is the side that sent the SYN",
        RoleBasis::Content => {
            "no SYN captured: the client is the side that sent the HTTP request (or masked frames)"
        }
        RoleBasis::Port => "no SYN or request captured: roles guessed from the port numbers",
    }
}

/// The line under a one-flow view's title: where the flow starts in the capture and how the
/// roles were decided.
pub fn origin(meta: &FlowMeta, capture_start: Option<crate::time::Timestamp>) -> String {
    let into = capture_start.map_or(0.0, |t| meta.first_ts.secs_since(t).max(0.0));
    format!(
        "starts {into:.6} s into the capture; {}",
        roles(meta.role_basis)
    )
}

/// How a flow ended, in words.
pub fn ended(how: CloseHow) -> &'static str {
    match how {
        CloseHow::Fin => "ended by FIN",
        CloseHow::Rst => "reset (RST)",
        CloseHow::Idle => "idle (timed out)",
        CloseHow::EndOfInput => "still open at the end of the capture",
        CloseHow::Evicted => "evicted (memory budget)",
    }
}

/// The summary block, each line ending in a newline.
pub fn summary(
    meta: &FlowMeta,
    s: &FlowSummary,
    how: CloseHow,
    anomalies: &BTreeMap<Code, u64>,
    style: Style,
) -> String {
    let row = FlowRow::new(meta, s, how);
    let kind = s.closed_kind();
    let mut out = String::new();
    let mut title = String::new();
    let _ = write!(
        title,
        "Flow {} summary: {kind}, {} packet{}, {:.3} s, {}",
        meta.id,
        meta.packets,
        plural(meta.packets),
        meta.last_ts.secs_since(meta.first_ts).max(0.0),
        ended(how)
    );
    style.push(&mut out, Paint::Bold, &title);
    out.push('\n');
    for (i, (label, paint)) in [
        ("client → server", Paint::Client),
        ("server → client", Paint::Server),
    ]
    .into_iter()
    .enumerate()
    {
        out.push_str("  ");
        style.push_padded(&mut out, paint, label, 17, false);
        let msgs = row.messages[i];
        let _ = writeln!(
            out,
            "{msgs} message{}, {} B of TCP payload{}",
            plural(msgs),
            meta.payload_bytes[i],
            if meta.gap_bytes[i] > 0 {
                format!(" ({} B missing from the capture)", meta.gap_bytes[i])
            } else {
                String::new()
            }
        );
    }
    if s.handshake_complete || s.ws_frames > 0 {
        let _ = write!(
            out,
            "  {:<17}{} frame{}, {} data message{}, handshake {}",
            "WebSocket",
            s.ws_frames,
            plural(s.ws_frames),
            s.ws_messages,
            plural(s.ws_messages),
            if s.handshake_complete {
                "complete"
            } else {
                "not seen"
            }
        );
        if let Some(rtt) = s.ping_rtt_ms() {
            let _ = write!(
                out,
                ", ping RTT {rtt:.3} ms ({} ping{})",
                s.ping_rtts.len(),
                plural(s.ping_rtts.len() as u64)
            );
        }
        out.push('\n');
    }
    if s.http_messages > 0 {
        let _ = writeln!(
            out,
            "  {:<17}{} message{}{}",
            "HTTP",
            s.http_messages,
            plural(s.http_messages),
            if s.handshake_complete {
                " (the upgrade request and its 101 among them)"
            } else {
                ""
            }
        );
    }
    if s.sse_events > 0 {
        let _ = writeln!(
            out,
            "  {:<17}{} event{}",
            "SSE",
            s.sse_events,
            plural(s.sse_events)
        );
    }
    let o = Overhead::of_flow(meta, s);
    let _ = write!(
        out,
        "  {:<17}{} B of L7 headers for {} B of payload",
        "overhead", o.l7_header_bytes, o.payload_bytes
    );
    if let Some(p) = o.overhead_pct() {
        let _ = write!(out, " ({p:.1}%)");
    }
    let _ = writeln!(out, ", {} B of TCP/IP headers", o.tcpip_header_bytes);
    out.push_str("  ");
    out.push_str(&format!("{:<17}", "anomalies"));
    if anomalies.is_empty() {
        out.push_str("none\n");
    } else {
        for (i, (code, n)) in anomalies.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            style.push(
                &mut out,
                Paint::severity(code.severity()),
                &format!("{} ×{n}", code.as_str()),
            );
        }
        out.push('\n');
    }
    out
}
