//! Which view a run prints: the reporter the options ask for, whether it is coloured, how wide
//! its tables are, and the check that a one-flow view's flow was in the capture.

use crate::cli::{ColorWhen, Common};
use crate::model::FlowKind;
use crate::report::Reporter;
use crate::report::follow::FollowPrinter;
use crate::report::json::JsonPrinter;
use crate::report::ladder::LadderPrinter;
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

/// The reporter the options ask for, writing to `out`.
pub fn make_reporter<W: Write + 'static>(common: &Common, out: W) -> Box<dyn Reporter> {
    let kind = common.kind.map(FlowKind::from);
    let color = use_color(common.color);
    if !common.json {
        if let Some(flow) = common.follow {
            return Box::new(FollowPrinter::new(out, flow, color, common.preview_chars()));
        }
        if let Some(flow) = common.ladder {
            return Box::new(LadderPrinter::new(out, flow, color, common.preview_chars()));
        }
    }
    if common.json {
        return Box::new(JsonPrinter::new(out, common.preview_chars(), kind));
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
        time: common.time_format.into(),
    };
    Box::new(TextPrinter::new(out, opts))
}

/// The error for a `--follow` / `--ladder` flow that is not among the `flows` of the run.
pub fn missing_flow(common: &Common, flows: u64) -> Option<String> {
    let flow = common.follow.or(common.ladder)?;
    (flow == 0 || flow > flows).then(|| match flows {
        0 => format!("flow {flow} is not in the capture: no flow was analyzed"),
        n => format!("flow {flow} is not in the capture: flow ids run from 1 to {n}"),
    })
}
