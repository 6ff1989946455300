//! The documentation shows real output. Every fenced block in `README.md`, `captures/README.md`
//! and `docs/**/*.md` whose first line is `$ sockscope ARGS` is an *output block*: the test runs
//! the built binary with ARGS from the repository root (`NO_COLOR=1`, `COLUMNS=120`, stdout a
//! pipe, so no colour and no table fitted to a terminal) and fails, with a diff, when the rest of
//! the block is not what it prints on stdout.
//!
//! A line holding only `…` stands for one or more lines of the output left out, so a block may
//! show the part of a long output that matters: its first shown part must start the output
//! unless a `…` comes before it, its last shown part must end the output unless a `…` follows
//! it, and the parts must appear in order.
//!
//! `UPDATE_GUIDES=1 cargo test --test guides` rewrites every block that differs. A block shown in
//! part keeps its shape: each part is found again in the new output (as it was, or by its first
//! or last line) and the `…` lines stay between them; a part that cannot be found again fails
//! the test, with the full output, for a human to choose what to show.
//!
//! The English and the Korean guide (and the two READMEs) must run the same commands in the same
//! order and have the same numbered sections: a guide that drops a section or an example fails.

use similar::TextDiff;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

/// The line that stands for omitted output lines.
const ELISION: &str = "…";

/// The environment variable that turns checking into rewriting.
const UPDATE_VAR: &str = "UPDATE_GUIDES";

/// Documents that must hold output blocks: a moved or renamed file must not let the test pass
/// with nothing checked.
const MUST_HAVE_BLOCKS: &[&str] = &[
    "README.md",
    "docs/ko/README.md",
    "docs/guide.md",
    "docs/ko/guide.md",
    "docs/overhead.md",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn updating() -> bool {
    std::env::var_os(UPDATE_VAR).is_some_and(|v| !v.is_empty() && v != "0")
}

// ---------------------------------------------------------------------------------------------
// Finding the blocks

/// One output block of a document.
#[derive(Debug)]
struct Block {
    /// Index of the `$ sockscope …` line among the document's lines.
    command_line: usize,
    /// Index of the closing fence.
    end: usize,
    /// The command after `$ `.
    command: String,
    /// The lines between the command and the closing fence.
    body: Vec<String>,
}

/// The output blocks of a Markdown text. Only unindented ``` fences are looked at; a fence that
/// is never closed is an error.
fn blocks(text: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(ticks) = fence(lines[i]) else {
            i += 1;
            continue;
        };
        let open = i;
        let close = (open + 1..lines.len())
            .find(|&j| lines[j].trim_end() == ticks)
            .ok_or_else(|| format!("line {}: the code fence is never closed", open + 1))?;
        if let Some(command) = lines.get(open + 1).and_then(|l| l.strip_prefix("$ "))
            && command.starts_with("sockscope ")
        {
            found.push(Block {
                command_line: open + 1,
                end: close,
                command: command.to_string(),
                body: lines[open + 2..close]
                    .iter()
                    .map(|l| l.to_string())
                    .collect(),
            });
        }
        i = close + 1;
    }
    Ok(found)
}

/// The backticks of an opening fence at the start of `line` (an info string may follow).
fn fence(line: &str) -> Option<&str> {
    let n = line.bytes().take_while(|&b| b == b'`').count();
    (n >= 3).then(|| &line[..n])
}

/// The words of a command: whitespace-separated, with '…' and "…" quoting (no escapes). Shell
/// syntax that this cannot run as written (pipes, redirections, variables, globs) is refused,
/// so that every command in the docs can be pasted into a shell and gives what the block shows.
fn words(command: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(q) => w.push(q),
                        None => return Err(format!("unclosed {c} in `{command}`")),
                    }
                }
            }
            c if c.is_whitespace() => out.extend(word.take()),
            '|' | '>' | '<' | ';' | '&' | '$' | '`' | '*' | '?' | '\\' | '#' => {
                return Err(format!(
                    "`{command}`: `{c}` is shell syntax an output block cannot hold; show part of \
                     the output with `{ELISION}` lines instead"
                ));
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Comparing a block with the output, and rebuilding it

/// A block's body: shown runs of output lines, and the `…` lines between them.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Shown(Vec<String>),
    /// The `…` line as written (its indentation is kept when the block is rewritten).
    Elided(String),
}

fn split_body(body: &[String]) -> Result<Vec<Piece>, String> {
    let mut out: Vec<Piece> = Vec::new();
    for line in body {
        if line.trim() == ELISION {
            if matches!(out.last(), Some(Piece::Elided(_))) {
                return Err(format!("two `{ELISION}` lines in a row"));
            }
            out.push(Piece::Elided(line.clone()));
        } else if let Some(Piece::Shown(run)) = out.last_mut() {
            run.push(line.clone());
        } else {
            out.push(Piece::Shown(vec![line.clone()]));
        }
    }
    Ok(out)
}

fn body_of(pieces: &[Piece]) -> Vec<String> {
    let mut out = Vec::new();
    for p in pieces {
        match p {
            Piece::Shown(run) => out.extend(run.iter().cloned()),
            Piece::Elided(marker) => out.push(marker.clone()),
        }
    }
    out
}

fn find_run(out: &[String], from: usize, run: &[String]) -> Option<usize> {
    (from..=out.len().checked_sub(run.len())?).find(|&j| out[j..j + run.len()] == *run)
}

fn find_line(out: &[String], from: usize, line: &str) -> Option<usize> {
    if line.trim().is_empty() {
        return None; // a blank line anchors nothing
    }
    (from..out.len()).find(|&j| out[j] == line)
}

/// Where each shown run lies in `out` (as half-open ranges), if the block shows `out` truly.
fn placement(pieces: &[Piece], out: &[String]) -> Option<Vec<(usize, usize)>> {
    let mut ranges = Vec::new();
    let mut next = 0; // first line the next run may start at
    for (i, p) in pieces.iter().enumerate() {
        match p {
            Piece::Elided(_) => next += 1, // at least one line left out
            Piece::Shown(run) => {
                let last = i + 1 == pieces.len();
                let start = if i == 0 {
                    (out.len() >= run.len() && out[..run.len()] == *run).then_some(0)?
                } else if last {
                    let s = out.len().checked_sub(run.len())?;
                    (s >= next && out[s..] == *run).then_some(s)?
                } else {
                    find_run(out, next, run)?
                };
                next = start + run.len();
                ranges.push((start, next));
            }
        }
    }
    let ends_shown = matches!(pieces.last(), Some(Piece::Shown(_)) | None);
    (if ends_shown {
        next == out.len()
    } else {
        next <= out.len()
    })
    .then_some(ranges)
}

/// The block rebuilt on `out` with the same shape: every shown run found again — as it was, or
/// from its first line, or up to its last line — and `…` left between runs that are not
/// adjacent. Fails when a run cannot be found again.
fn rebuild(pieces: &[Piece], out: &[String]) -> Result<Vec<String>, String> {
    if !pieces.iter().any(|p| matches!(p, Piece::Elided(_))) {
        return Ok(out.to_vec());
    }
    // Range of every shown run in the new output. Runs may now touch (their `…` is dropped).
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut next = 0; // end of the previous run
    for (i, p) in pieces.iter().enumerate() {
        let Piece::Shown(run) = p else { continue };
        let (first, last) = (&run[0], &run[run.len() - 1]);
        let len = run.len();
        let range = if i == 0 {
            let end = if out.len() >= len && out[..len] == *run {
                len
            } else {
                find_line(out, 0, last).map_or(len.min(out.len()), |k| k + 1)
            };
            (0, end)
        } else if i + 1 == pieces.len() {
            let start = out
                .len()
                .checked_sub(len)
                .filter(|&s| s >= next && out[s..] == *run)
                .or_else(|| find_line(out, next, first))
                .unwrap_or(out.len().saturating_sub(len).max(next));
            (start, out.len())
        } else if let Some(s) = find_run(out, next, run) {
            (s, s + len)
        } else if let Some(s) = find_line(out, next, first) {
            let end = find_line(out, s, last).map_or((s + len).min(out.len()), |k| k + 1);
            (s, end)
        } else if let Some(k) = find_line(out, next, last) {
            ((k + 1).saturating_sub(len).max(next), k + 1)
        } else {
            return Err(format!(
                "the part of the block starting with {first:?} is no longer in the output"
            ));
        };
        if range.0 >= range.1 || range.0 < next {
            return Err(format!(
                "the part of the block starting with {first:?} cannot be placed in the output"
            ));
        }
        next = range.1;
        ranges.push(range);
    }
    // Write the runs, with each `…` kept only where lines are really left out.
    let mut rebuilt = Vec::new();
    let mut shown = ranges.iter();
    let mut at = 0; // end of the last run written
    let mut pending: Option<&String> = None;
    for p in pieces {
        match p {
            Piece::Elided(marker) => pending = Some(marker),
            Piece::Shown(_) => {
                let &(s, e) = shown.next().expect("one range per shown run");
                if let Some(marker) = pending.take().filter(|_| s > at) {
                    rebuilt.push(Piece::Elided(marker.clone()));
                }
                rebuilt.push(Piece::Shown(out[s..e].to_vec()));
                at = e;
            }
        }
    }
    if let Some(marker) = pending.filter(|_| at < out.len()) {
        rebuilt.push(Piece::Elided(marker.clone()));
    }
    let body = body_of(&rebuilt);
    // Adjacent runs merge into one; the result must show the output truly.
    placement(&split_body(&body)?, out)
        .map(|_| body)
        .ok_or_else(|| "the rebuilt block does not match the output".to_string())
}

// ---------------------------------------------------------------------------------------------
// Running the commands

/// The stdout of a command of an output block, as lines.
fn run(
    command: &str,
    cache: &mut HashMap<String, Result<Vec<String>, String>>,
) -> Result<Vec<String>, String> {
    if let Some(done) = cache.get(command) {
        return done.clone();
    }
    let result = (|| {
        let words = words(command)?;
        if words.first().map(String::as_str) != Some("sockscope") {
            return Err(format!("`{command}` does not run sockscope"));
        }
        let out = Command::new(BIN)
            .args(&words[1..])
            .current_dir(root())
            .env("NO_COLOR", "1")
            .env("COLUMNS", "120")
            .output()
            .map_err(|e| format!("cannot run `{command}`: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // 0, or 1 for `check` finding errors: both are outputs worth showing.
        if !matches!(out.status.code(), Some(0 | 1)) || stderr.contains("panicked") {
            return Err(format!("`{command}` failed ({}): {stderr}", out.status));
        }
        let stdout = String::from_utf8(out.stdout)
            .map_err(|_| format!("`{command}`: stdout is not UTF-8"))?;
        Ok(stdout.lines().map(str::to_string).collect())
    })();
    cache.insert(command.to_string(), result.clone());
    result
}

// ---------------------------------------------------------------------------------------------
// The documents

/// `README.md`, `captures/README.md` and every Markdown file under `docs/`, relative to the root.
fn documents() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut docs = vec![root().join("README.md"), root().join("captures/README.md")];
    walk(&root().join("docs"), &mut docs);
    docs.sort();
    docs.into_iter()
        .map(|p| {
            p.strip_prefix(root())
                .expect("under the root")
                .to_path_buf()
        })
        .collect()
}

fn read(doc: &Path) -> String {
    std::fs::read_to_string(root().join(doc)).unwrap_or_else(|e| panic!("{}: {e}", doc.display()))
}

/// Checks (or, with `UPDATE_GUIDES`, rewrites) the output blocks of one document; returns the
/// problems found, each with a diff.
fn check_document(
    doc: &Path,
    cache: &mut HashMap<String, Result<Vec<String>, String>>,
    update: bool,
) -> (Vec<String>, usize) {
    let text = read(doc);
    let name = doc.display().to_string();
    let found = match blocks(&text) {
        Ok(found) => found,
        Err(e) => return (vec![format!("{name}: {e}")], 0),
    };
    let mut problems = Vec::new();
    let mut rewrites: Vec<(usize, usize, Vec<String>)> = Vec::new();
    for block in &found {
        let at = format!("{name}:{}", block.command_line + 1);
        let shown = match split_body(&block.body) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{at}: {e}"));
                continue;
            }
        };
        let out = match run(&block.command, cache) {
            Ok(out) => out,
            Err(e) => {
                problems.push(format!("{at}: {e}"));
                continue;
            }
        };
        if placement(&shown, &out).is_some() {
            continue;
        }
        match rebuild(&shown, &out) {
            Ok(body) if update => {
                // Straight to stderr: the harness would swallow `eprintln!` of a passing test.
                let _ = writeln!(
                    std::io::stderr(),
                    "{at}: rewrote the output of `{}`",
                    block.command
                );
                rewrites.push((block.command_line + 1, block.end, body));
            }
            Ok(body) => problems.push(format!(
                "{at}: `{}` prints something else:\n{}",
                block.command,
                diff(&block.body, &body, &name)
            )),
            Err(why) => problems.push(format!(
                "{at}: `{}` prints something else, and {why}; edit the block by hand. \
                 Its whole output:\n{}",
                block.command,
                out.join("\n")
            )),
        }
    }
    if !rewrites.is_empty() {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for (start, end, body) in rewrites.into_iter().rev() {
            lines.splice(start..end, body);
        }
        let mut new = lines.join("\n");
        if text.ends_with('\n') {
            new.push('\n');
        }
        std::fs::write(root().join(doc), new).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    (problems, found.len())
}

fn diff(written: &[String], printed: &[String], doc: &str) -> String {
    let (a, b) = (written.join("\n") + "\n", printed.join("\n") + "\n");
    TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{doc} (as written)"), "sockscope (as printed)")
        .to_string()
}

#[test]
fn output_blocks_show_what_the_binary_prints() {
    let update = updating();
    assert!(
        !(update && std::env::var_os("SOCKSCOPE_CI").is_some_and(|v| !v.is_empty() && v != "0")),
        "{UPDATE_VAR} rewrites the docs; it has no place in CI"
    );
    let mut cache = HashMap::new();
    let mut problems = Vec::new();
    let mut counts = HashMap::new();
    for doc in documents() {
        let (p, n) = check_document(&doc, &mut cache, update);
        problems.extend(p);
        counts.insert(doc, n);
    }
    for doc in MUST_HAVE_BLOCKS {
        if counts.get(Path::new(doc)).is_none_or(|&n| n == 0) {
            problems.push(format!(
                "{doc}: no `$ sockscope` output block (moved? renamed?)"
            ));
        }
    }
    let mut report = String::new();
    for p in &problems {
        let _ = writeln!(report, "{p}\n");
    }
    assert!(
        problems.is_empty(),
        "{report}{} problem(s) with output blocks. \
         `{UPDATE_VAR}=1 cargo test --test guides` rewrites them; review the diff and the prose \
         around each block.",
        problems.len()
    );
}

// ---------------------------------------------------------------------------------------------
// The two languages

fn commands_of(doc: &str) -> Vec<String> {
    blocks(&read(Path::new(doc)))
        .unwrap_or_else(|e| panic!("{doc}: {e}"))
        .into_iter()
        .map(|b| b.command)
        .collect()
}

/// The numbers of the `## N. …` sections, in order.
fn section_numbers(doc: &str) -> Vec<String> {
    read(Path::new(doc))
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter_map(|h| h.split_once(". ").map(|(n, _)| n.to_string()))
        .filter(|n| n.chars().all(|c| c.is_ascii_digit()))
        .collect()
}

#[test]
fn both_guides_run_the_same_commands_in_the_same_sections() {
    let (en, ko) = ("docs/guide.md", "docs/ko/guide.md");
    assert_eq!(
        commands_of(en),
        commands_of(ko),
        "{en} and {ko} run different commands"
    );
    let sections = section_numbers(en);
    assert!(sections.len() >= 10, "{en}: numbered sections not found");
    assert_eq!(
        sections,
        section_numbers(ko),
        "{en} and {ko} have different sections"
    );
}

/// The first fenced block of a document, fences included.
fn first_block(doc: &str) -> String {
    let text = read(Path::new(doc));
    let lines: Vec<&str> = text.lines().collect();
    let open = lines
        .iter()
        .position(|l| fence(l).is_some())
        .unwrap_or_else(|| panic!("{doc} has no code block"));
    let close = (open + 1..lines.len())
        .find(|&j| lines[j].trim_end() == "```")
        .unwrap_or_else(|| panic!("{doc}: the first code block is never closed"));
    lines[open..=close].join("\n")
}

#[test]
fn both_readmes_start_with_the_same_commands() {
    let (en, ko) = ("README.md", "docs/ko/README.md");
    let text = read(Path::new(en));
    let after_title = text
        .strip_prefix("# sockscope\n\n")
        .expect("README.md begins with its title");
    assert!(
        after_title.starts_with(&format!("{}\n", first_block(en))),
        "README.md must start with its commands block"
    );
    assert_eq!(
        first_block(en),
        first_block(ko),
        "the READMEs' first commands differ"
    );
    assert_eq!(
        commands_of(en),
        commands_of(ko),
        "{en} and {ko} show different outputs"
    );
    assert!(
        text.contains("(docs/ko/README.md)"),
        "{en} does not link {ko}"
    );
}

// ---------------------------------------------------------------------------------------------
// The matching rules themselves

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

fn shows(block: &str, out: &str) -> bool {
    placement(&split_body(&lines(block)).unwrap(), &lines(out)).is_some()
}

#[test]
fn a_block_without_elision_is_the_whole_output() {
    assert!(shows("a\nb", "a\nb"));
    assert!(!shows("a", "a\nb"));
    assert!(!shows("a\nb\nc", "a\nb"));
    assert!(shows("", ""));
    assert!(!shows("", "a"));
}

#[test]
fn an_elision_stands_for_at_least_one_line() {
    assert!(shows("a\n…\nd", "a\nb\nc\nd"));
    assert!(!shows("a\n…\nb", "a\nb"), "nothing was left out");
    assert!(shows("…\nc", "a\nb\nc"));
    assert!(
        !shows("…\nb", "a\nb\nc"),
        "the last run must end the output"
    );
    assert!(shows("a\n…", "a\nb"));
    assert!(
        !shows("b\n…", "a\nb\nc"),
        "the first run must start the output"
    );
    assert!(shows("…\nb\n…", "a\nb\nc"));
    assert!(!shows("…\nc\n…\nb\n…", "a\nb\nc\nd"), "runs in order");
    assert!(
        shows("  …\nb\n…\nd", "a\nb\nc\nd"),
        "indented markers count"
    );
    assert!(split_body(&lines("a\n…\n…\nb")).is_err());
}

#[test]
fn rebuilding_keeps_the_shape_of_a_partial_block() {
    let rebuild_s = |block: &str, out: &str| {
        rebuild(&split_body(&lines(block)).unwrap(), &lines(out)).map(|b| b.join("\n"))
    };
    // A line changed inside a shown run (found by its first and last lines).
    assert_eq!(
        rebuild_s("h\n…\np1\nx\np2\n…\nt", "h\nz\np1\ny\np2\nz\nt").unwrap(),
        "h\n…\np1\ny\np2\n…\nt"
    );
    // A line inserted in the omitted part and the tail grown by a line.
    assert_eq!(
        rebuild_s("h\n…\nt1\nt2", "h\nz\nnew\nt1\nt2\nt3").unwrap(),
        "h\n…\nt1\nt2\nt3"
    );
    // The omitted lines are gone: the runs join.
    assert_eq!(rebuild_s("h\n…\nt", "h\nt").unwrap(), "h\nt");
    // A run that is nowhere in the new output cannot be rebuilt.
    assert!(rebuild_s("h\n…\nmiddle\n…\nt", "h\nz\nz\nt").is_err());
    // Without elision the block is simply the new output.
    assert_eq!(rebuild_s("a\nb", "c").unwrap(), "c");
}

#[test]
fn commands_are_words_a_shell_would_see() {
    assert_eq!(
        words("sockscope read -Y 'ws.opcode == 1' \"a b\"").unwrap(),
        ["sockscope", "read", "-Y", "ws.opcode == 1", "a b"]
    );
    assert!(words("sockscope read x.pcap | head").is_err());
    assert!(words("sockscope read 'x.pcap").is_err());
}

#[test]
fn blocks_are_found_only_after_a_fence() {
    let md = "text\n```\n$ sockscope read a.pcap\nout\n```\n\n```\nsockscope read b\n```\n```console\n$ sockscope read c\n```\n";
    let found = blocks(md).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].command, "sockscope read a.pcap");
    assert_eq!(found[0].body, ["out"]);
    assert_eq!((found[0].command_line, found[0].end), (2, 4));
    assert!(found[1].body.is_empty());
    assert!(blocks("```\n$ sockscope read\n").is_err());
}
