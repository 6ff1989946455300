//! Which view a run prints: the reporter the options ask for, whether it is coloured, how wide
//! its tables are, and the check that a one-flow view's flow was in the capture.

use crate::app::error_line;
use crate::cli::{ColorWhen, Common};
use crate::filter::Filter;
use crate::model::FlowKind;
use crate::report::Reporter;
use crate::report::fields::FieldsPrinter;
use crate::report::follow::FollowPrinter;
use crate::report::json::JsonPrinter;
use crate::report::ladder::LadderPrinter;
use crate::report::select::{Filtered, Selection};
use crate::report::tables::{PIPE_WIDTH, TableStyle};
use crate::report::text::{TextOptions, TextPrinter};
use std::io::{self, IsTerminal, Write};

/// Whether to colour output on stdout.
pub fn use_color(when: ColorWhen) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && io::stdout().is_terminal()
        }
    }
}

/// The width tables fit: `COLUMNS` when set, else the terminal's, else [`PIPE_WIDTH`].
pub fn output_width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|&c| c > 0)
        .or_else(|| io::stdout().is_terminal().then(terminal_width).flatten())
        .unwrap_or(PIPE_WIDTH)
}

fn terminal_width() -> Option<u16> {
    // SAFETY: TIOCGWINSZ fills a plain struct; a failure leaves it zeroed and is checked.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
            Some(ws.ws_col)
        } else {
            None
        }
    }
}

/// A refused `-Y` filter, already reported on stderr: the run ends with status 2.
#[derive(Debug)]
pub struct FilterRefused;

/// The `-Y` filter of `common` (with `--kind` joined to it), checked: a refused filter is
/// reported on stderr with a caret under its column.
pub fn checked_filter(common: &Common) -> Result<Option<Filter>, FilterRefused> {
    common.display_filter().map_err(|(headline, caret)| {
        error_line(format!("-Y: {headline}"));
        let _ = writeln!(io::stderr(), "{caret}");
        FilterRefused
    })
}

/// Whether what a reporter writes may wait in it: a file's reading, whose output is flushed at
/// the end, or a live capture, which flushes at the end of every batch of packets and so needs
/// every line handed on at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    Read,
    Live,
}

/// The reporter the options ask for, writing to `out`. The `-Y` filter must have been checked
/// ([`checked_filter`]).
pub fn make_reporter<W: Write + 'static>(common: &Common, out: W, pace: Pace) -> Box<dyn Reporter> {
    let color = use_color(common.color);
    let filter = common.display_filter().ok().flatten();
    // With a filter, --kind is part of it.
    let kind = common.kind.map(FlowKind::from).filter(|_| filter.is_none());
    let select = filter.map(|f| Selection::new(f).with_poll_interval(common.poll_interval));
    // `-T fields`, the one line-per-record format.
    if let Some(crate::cli::FieldsFormat::Fields) = common.fields_format {
        let fields = FieldsPrinter::new(out, &common.field_names, &common.field_options);
        return Box::new(match fields {
            Ok(p) => p.with_filter(select),
            // Checked before the run (`fields_options`).
            Err(_) => return Box::new(crate::app::Silent),
        });
    }
    if !common.json {
        if let Some(flow) = common.follow {
            let p = FollowPrinter::new(out, flow, color, common.preview_chars());
            return Filtered::wrap(p, select);
        }
        if let Some(flow) = common.ladder {
            let p = LadderPrinter::new(out, flow, color, common.preview_chars());
            return Filtered::wrap(p, select);
        }
    }
    if common.json {
        let p = JsonPrinter::new(out, common.preview_chars(), kind);
        let p = match pace {
            Pace::Read => p.in_blocks(),
            Pace::Live => p,
        };
        return Box::new(match select {
            Some(s) => p.with_filter(s, common.filter_flows),
            None => p,
        });
    }
    let opts = TextOptions {
        quiet: common.quiet,
        preview: common.preview_chars(),
        line_preview: common.line_preview_chars(),
        kind,
        color,
        tables: TableStyle {
            unicode: true,
            width: Some(output_width()),
            color,
        },
        verbose: common.verbose,
        hex: common.hex,
        hex_bytes: common.config(false).display_bytes,
        layers: common.only_layers.clone(),
        time: common.time_format.into(),
    };
    let p = TextPrinter::new(out, opts);
    Box::new(match select {
        Some(s) => p.with_filter(s, common.filter_flows),
        None => p,
    })
}

/// The error for a `--follow` / `--ladder` flow that is not among the `flows` of the run.
pub fn missing_flow(common: &Common, flows: u64) -> Option<String> {
    let flow = common.follow.or(common.ladder)?;
    (flow == 0 || flow > flows).then(|| match flows {
        0 => format!("flow {flow} is not in the capture: no flow was analyzed"),
        n => format!("flow {flow} is not in the capture: flow ids run from 1 to {n}"),
    })
}
