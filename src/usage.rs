//! What the user reads about the command line outside a run: usage errors in one line (clap's
//! "did you mean" kept, the command's own help named), the man pages (one per command, with
//! examples, exit status, environment and files), and the shell completion scripts (which also
//! complete `live`'s interface names).
//!
//! The prose comes from [`crate::cli`], so `--help` and the man pages say the same.

use crate::cli::{self, Cli, Example, ManPage};
use clap::CommandFactory;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use roff::{Roff, bold, italic, roman};
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Extensions of the files `check` looks for, and that `sockscope FILE` recognises.
pub const CAPTURE_EXTENSIONS: [&str; 3] = [".pcap", ".pcapng", ".cap"];

/// Whether `name` looks like a capture file (`.gz` compressed or not).
pub fn is_capture_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    CAPTURE_EXTENSIONS.iter().any(|ext| name.ends_with(ext))
}

/// The subcommand named on the command line, if any.
fn subcommand_in(args: &[OsString]) -> Option<String> {
    let cmd = Cli::command();
    args.iter().skip(1).find_map(|a| {
        let a = a.to_str()?;
        cmd.find_subcommand(a).map(|s| s.get_name().to_string())
    })
}

fn context_text(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => v.first().cloned(),
        ContextValue::StyledStr(s) => Some(s.to_string()),
        ContextValue::StyledStrs(v) => v.first().map(ToString::to_string),
        _ => None,
    }
}

/// A usage error in one line, naming the command's help, keeping clap's suggestion:
/// `unexpected argument '--jsn' found; did you mean '--json'? (see `sockscope read --help`)`.
/// A capture file given where a command belongs gets the command that reads it.
pub fn one_line_error(e: &clap::Error, args: &[OsString]) -> String {
    if e.kind() == ErrorKind::InvalidSubcommand
        && let Some(word) = context_text(e, ContextKind::InvalidSubcommand)
    {
        let path = Path::new(&word);
        if path.is_dir() {
            return format!(
                "'{word}' is not a command; to check the captures in it run \
                 `sockscope check {word}` (see `sockscope --help`)"
            );
        }
        if path.is_file() || is_capture_name(&word) {
            return format!(
                "'{word}' is not a command; to analyze it run `sockscope read {word}` \
                 (see `sockscope --help`)"
            );
        }
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut first = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    if first.ends_with(':')
        && let Some(what) = lines.next()
    {
        // "the following required arguments were not provided:" names them on the next line.
        first.push(' ');
        first.push_str(what);
    }
    if let Some(values) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("[possible values: "))
    {
        first.push_str(" (possible values: ");
        first.push_str(values.trim_end_matches(']'));
        first.push(')');
    }
    let suggestion = [
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
    ]
    .into_iter()
    .find_map(|k| context_text(e, k));
    if let Some(s) = suggestion {
        first.push_str(&format!("; did you mean '{s}'?"));
    } else if let Some(tip) = context_text(e, ContextKind::Suggested) {
        first.push_str("; ");
        first.push_str(&tip);
    }
    let command = match subcommand_in(args) {
        Some(sub) if e.kind() != ErrorKind::InvalidSubcommand => format!("sockscope {sub}"),
        _ => "sockscope".to_string(),
    };
    format!("{first} (see `{command} --help`)")
}

/// What the man pages say beyond the options, per page.
struct PageText {
    examples: &'static [Example],
    exit: &'static str,
    files: &'static str,
    more: &'static [(&'static str, &'static str)],
}

const OVERVIEW_EXAMPLES: &[Example] = &[
    (
        "sockscope read captures/ws-chat.pcap",
        "summary lines, flows, overhead table",
    ),
    (
        "sudo sockscope live lo --json | jq .",
        "JSON records from live traffic",
    ),
    (
        "sockscope check -v captures/",
        "the CI gate, anomaly by anomaly",
    ),
    (
        "sockscope report captures/ws-chat.pcap -o chat.html",
        "the HTML report, to open in a browser",
    ),
];

const OVERVIEW_EXIT: &str = "0 on success (for check: every capture passed); 1 when check finds \
a capture that fails; 2 on a usage error, unreadable or malformed input, or a missing privilege. \
Every failure prints one line on stderr naming the file or interface and what to do.";

fn page_text(page: Option<ManPage>) -> PageText {
    match page {
        None => PageText {
            examples: OVERVIEW_EXAMPLES,
            exit: OVERVIEW_EXIT,
            files: "Capture files: pcap (microsecond or nanosecond, either byte order) and pcapng, \
                    optionally gzip-compressed. sockscope reads no configuration file.",
            more: &[],
        },
        Some(ManPage::Read) => PageText {
            examples: cli::READ_EXAMPLES,
            exit: cli::READ_EXIT,
            files: "Each FILE is a pcap or pcapng capture, optionally gzip-compressed; several \
                    files are read as one capture, packet numbers continuing; - reads stdin.",
            more: &[],
        },
        Some(ManPage::Report) => PageText {
            examples: cli::REPORT_EXAMPLES,
            exit: cli::REPORT_EXIT,
            files: "Each FILE is a pcap or pcapng capture, optionally gzip-compressed; several \
                    files are read as one capture. -o FILE.html is one HTML file with its script, \
                    style and data inside (about 2 MB for 10,000 flows); - writes it to stdout.",
            more: &[],
        },
        Some(ManPage::Live) => PageText {
            examples: cli::LIVE_EXAMPLES,
            exit: cli::LIVE_EXIT,
            files: "-w FILE is written as a pcap file readable by tshark and tcpdump, valid after \
                    every batch of packets, owned by the user privileges are dropped to.",
            more: &[],
        },
        Some(ManPage::Check) => PageText {
            examples: cli::CHECK_EXAMPLES,
            exit: cli::CHECK_EXIT,
            files: "A directory PATH is searched for *.pcap, *.pcapng and *.cap files (and the \
                    same ending in .gz), with -r in its subdirectories too, in name order.",
            more: &[
                ("RULES", cli::CHECK_RULES),
                (
                    "OUTPUT",
                    "text: PASS or FAIL, the file, what it contained or why it failed; with -v \
                     each anomaly under it. json: one \"check\" record per capture (counts, every \
                     finding with flow, frame, direction and detail, the error of an unreadable \
                     file), then \"check_summary\" (docs/schema.json). junit: one testsuite, one \
                     testcase per capture, one failure per failing finding, an error for an \
                     unreadable file. sarif: SARIF 2.1.0, one result per finding, rules named \
                     by anomaly code. github: the text lines plus ::error and ::warning \
                     workflow commands, one per finding.",
                ),
            ],
        },
        Some(ManPage::Completions) => PageText {
            examples: &[
                (
                    "sockscope completions bash > /etc/bash_completion.d/sockscope",
                    "bash",
                ),
                (
                    "sockscope completions zsh > ~/.zfunc/_sockscope",
                    "zsh (with ~/.zfunc in fpath)",
                ),
                (
                    "sockscope completions fish > ~/.config/fish/completions/sockscope.fish",
                    "fish",
                ),
            ],
            exit: "0; 2 on a usage error.",
            files: "The script is printed on stdout.",
            more: &[],
        },
        Some(ManPage::Man) => PageText {
            examples: &[
                ("sockscope man | man -l -", "the overview page"),
                (
                    "sockscope man check | man -l -",
                    "the page of sockscope check",
                ),
                (
                    "sockscope man --dir /usr/local/share/man/man1",
                    "install every page",
                ),
            ],
            exit: "0; 2 on a usage error or when a page cannot be written.",
            files: "With --dir, sockscope.1 and sockscope-COMMAND.1 for each command.",
            more: &[],
        },
    }
}

fn section(roff: &mut Roff, title: &str, text: &str) {
    roff.control("SH", [title]);
    roff.text([roman(text)]);
}

/// One man page: the overview (`None`) or a command's.
pub fn render_man(page: Option<ManPage>, w: &mut dyn Write) -> io::Result<()> {
    let mut roff = Vec::new();
    render_sections(page, &mut roff)?;
    // Each section comes with the same two-line preamble (how to print an apostrophe); once
    // is enough.
    let text = String::from_utf8_lossy(&roff);
    let mut seen = false;
    for line in text.lines() {
        let preamble = line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq");
        if preamble && seen {
            continue;
        }
        seen |= line.starts_with(".el .ds Aq");
        writeln!(w, "{line}")?;
    }
    Ok(())
}

fn render_sections(page: Option<ManPage>, w: &mut dyn Write) -> io::Result<()> {
    let mut top = Cli::command();
    top.build();
    let cmd = match page {
        None => top,
        Some(p) => top
            .find_subcommand(p.name())
            .cloned()
            .ok_or_else(|| io::Error::other(format!("no command {}", p.name())))?,
    };
    let man = clap_mangen::Man::new(cmd.clone())
        .title(page_name(page).to_uppercase())
        .source(format!("sockscope {}", env!("CARGO_PKG_VERSION")));
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if page.is_none() {
        man.render_subcommands_section(w)?;
    }
    let text = page_text(page);
    let mut roff = Roff::new();
    for (title, body) in text.more {
        section(&mut roff, title, body);
    }
    roff.control("SH", ["EXAMPLES"]);
    for (command, what) in text.examples {
        roff.control("TP", []);
        roff.text([bold(*command)]);
        roff.text([roman(*what)]);
    }
    section(&mut roff, "EXIT STATUS", text.exit);
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, what) in cli::ENVIRONMENT {
        roff.control("TP", []);
        roff.text([bold(*name)]);
        roff.text([roman(*what)]);
    }
    section(&mut roff, "FILES", text.files);
    roff.control("SH", ["SEE ALSO"]);
    let mut see = Vec::new();
    for p in PAGES {
        if p == page {
            continue;
        }
        if !see.is_empty() {
            see.push(roman(", "));
        }
        see.push(bold(page_name(p)));
        see.push(roman("(1)"));
    }
    see.push(roman(", "));
    see.push(italic("tshark"));
    see.push(roman("(1), "));
    see.push(italic("tcpdump"));
    see.push(roman("(8)"));
    roff.text(see);
    section(
        &mut roff,
        "VERSION",
        &format!("v{}", env!("CARGO_PKG_VERSION")),
    );
    roff.to_writer(w)
}

/// Every man page: the overview (`None`) and one per command.
pub const PAGES: [Option<ManPage>; 7] = [
    None,
    Some(ManPage::Read),
    Some(ManPage::Report),
    Some(ManPage::Live),
    Some(ManPage::Check),
    Some(ManPage::Completions),
    Some(ManPage::Man),
];

/// A page's name: `sockscope`, `sockscope-read`, …
fn page_name(page: Option<ManPage>) -> String {
    match page {
        None => "sockscope".to_string(),
        Some(p) => format!("sockscope-{}", p.name()),
    }
}

/// Writes every page into `dir`; returns the paths written.
pub fn write_man_pages(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for page in PAGES {
        let path = dir.join(format!("{}.1", page_name(page)));
        let mut buf = Vec::new();
        render_man(page, &mut buf)?;
        std::fs::write(&path, buf)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}

/// The completion script for `shell`. bash, zsh and fish also complete `live`'s interface
/// names (from /sys/class/net when completing, plus `any`).
pub fn completion_script(shell: clap_complete::Shell) -> io::Result<String> {
    use clap_complete::Shell;
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "sockscope", &mut buf);
    let script = String::from_utf8(buf).map_err(io::Error::other)?;
    let patched = match shell {
        Shell::Bash => {
            // The `live` block offers its options; interface names join them.
            let anchor = "sockscope__subcmd__live)\n            opts=\"";
            script.contains(anchor).then(|| {
                let mut s =
                    script.replacen(anchor, &format!("{anchor}$(_sockscope_interfaces) "), 1);
                s.push_str(
                    "\n_sockscope_interfaces() {\n    \
                     command ls /sys/class/net 2>/dev/null\n    echo any\n}\n",
                );
                s
            })
        }
        Shell::Zsh => {
            let from = "(\"any\" = all interfaces):_default'";
            script.contains(from).then(|| {
                script.replacen(from, "(\"any\" = all interfaces):_sockscope_interfaces'", 1)
                    + "\n(( $+functions[_sockscope_interfaces] )) ||\n_sockscope_interfaces() {\n    \
                       local -a ifaces\n    ifaces=(any ${(f)\"$(command ls /sys/class/net 2>/dev/null)\"})\n    \
                       _describe -t interfaces 'interface' ifaces\n}\n"
            })
        }
        Shell::Fish => Some(
            script
                + "complete -c sockscope -n \"__fish_sockscope_using_subcommand live\" -f \
                   -a \"(__fish_print_interfaces) any\" -d 'interface'\n",
        ),
        _ => return Ok(script),
    };
    patched.ok_or_else(|| {
        io::Error::other(format!(
            "the {shell} completion script has an unexpected shape; interface completion not added"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn error_for(args: &[&str]) -> String {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let e = Cli::try_parse_from(&args).expect_err("a usage error");
        one_line_error(&e, &args)
    }

    #[test]
    fn suggestions_survive_the_one_line_rewrite() {
        let e = error_for(&["sockscope", "raed", "x.txt"]);
        assert!(e.contains("did you mean 'read'?"), "{e}");
        assert!(e.ends_with("(see `sockscope --help`)"), "{e}");
        let e = error_for(&["sockscope", "read", "--jsn", "x"]);
        assert!(
            e.contains("'--jsn'") && e.contains("did you mean '--json'?"),
            "{e}"
        );
        assert!(e.ends_with("(see `sockscope read --help`)"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn value_errors_point_at_the_commands_help() {
        let e = error_for(&["sockscope", "check", "-p", "0", "x"]);
        assert!(e.contains("port 0"), "{e}");
        assert!(e.ends_with("(see `sockscope check --help`)"), "{e}");
        let e = error_for(&["sockscope", "live", "--max-flows", "0"]);
        assert!(e.contains("at least 1"), "{e}");
        assert!(e.ends_with("(see `sockscope live --help`)"), "{e}");
    }

    #[test]
    fn a_capture_where_a_command_belongs_gets_the_command() {
        let e = error_for(&["sockscope", "trace.pcapng"]);
        assert!(e.contains("`sockscope read trace.pcapng`"), "{e}");
        let e = error_for(&["sockscope", "old.cap.gz"]);
        assert!(e.contains("`sockscope read old.cap.gz`"), "{e}");
        let dir = std::env::temp_dir();
        let d = dir.to_str().expect("utf-8 temp dir");
        let e = error_for(&["sockscope", d]);
        assert!(e.contains(&format!("`sockscope check {d}`")), "{e}");
    }

    #[test]
    fn every_page_has_the_sections_a_man_page_needs() {
        for page in PAGES {
            let mut buf = Vec::new();
            render_man(page, &mut buf).expect("render");
            let roff = String::from_utf8(buf).expect("utf-8");
            for s in [
                ".TH SOCKSCOPE",
                ".SH NAME",
                ".SH SYNOPSIS",
                ".SH EXAMPLES",
                ".SH \"EXIT STATUS\"",
                ".SH ENVIRONMENT",
                ".SH FILES",
                ".SH \"SEE ALSO\"",
            ] {
                assert!(roff.contains(s), "{page:?}: {s} missing:\n{roff}");
            }
            if page.is_some_and(|p| p != ManPage::Completions) {
                assert!(roff.contains(".SH OPTIONS"), "{page:?}");
            }
        }
    }

    #[test]
    fn completion_scripts_complete_interfaces() {
        use clap_complete::Shell;
        assert!(
            completion_script(Shell::Bash)
                .unwrap()
                .contains("opts=\"$(_sockscope_interfaces) ")
        );
        assert!(
            completion_script(Shell::Zsh)
                .unwrap()
                .contains(":_sockscope_interfaces'")
        );
        assert!(
            completion_script(Shell::Fish)
                .unwrap()
                .contains("__fish_print_interfaces")
        );
        assert!(completion_script(Shell::Elvish).is_ok());
    }
}
