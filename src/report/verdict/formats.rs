//! `check`'s output formats over [`CaptureVerdict`]s: the text lines (`PASS` / `FAIL`, with
//! `-v` each finding under its capture), JSON Lines, GitHub Actions annotations (the text lines
//! plus `::error` / `::warning` workflow commands), and two documents written at the end, JUnit
//! XML and SARIF 2.1.0.
//!
//! Every function returns the text to write, so the caller decides where it goes (and can keep
//! a progress bar out of its way). File names and anomaly details come from the file system and
//! the capture: the text formats pass them through [`shown`], the one place that makes them
//! safe for a terminal; the other formats escape them by their own syntax.

use super::rules::Effect;
use super::{CaptureVerdict, FORBID_ID, Finding, Subject, code_counts};
use crate::model::{Code, Severity, ts_secs};
use crate::report::json::json_line;
use crate::report::style::{Paint, Style};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::fmt::Write as _;

/// A string from the capture or the file system, as the text formats show it: through the one
/// terminal escape ([`escape`](crate::report::escape)), so a line stays one line and cannot
/// drive the terminal.
pub fn shown(s: &str) -> Cow<'_, str> {
    crate::report::escape::escape(s)
}

/// How the text lines look.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextStyle {
    /// `-v`: each finding under its capture.
    pub verbose: bool,
    /// `-q`: no PASS lines.
    pub quiet: bool,
    pub color: bool,
}

/// The run's tally.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub captures: u64,
    pub passed: u64,
    pub failed: u64,
    pub unreadable: u64,
}

impl Totals {
    pub fn count(&mut self, v: &CaptureVerdict) {
        self.captures += 1;
        if v.error.is_some() {
            self.unreadable += 1;
        } else if v.pass() {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "1 flow (1 websocket): 2 HTTP messages, 18 WebSocket frames, 10 WebSocket messages".
fn found_line(v: &CaptureVerdict) -> String {
    let kinds = v
        .kinds
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut s = plural(v.flows, "flow", "flows");
    if !kinds.is_empty() {
        s.push_str(&format!(" ({kinds})"));
    }
    let f = v.found;
    let mut parts = Vec::new();
    if f.http_messages > 0 {
        parts.push(plural(f.http_messages, "HTTP message", "HTTP messages"));
    }
    if f.ws_frames > 0 {
        parts.push(plural(f.ws_frames, "WebSocket frame", "WebSocket frames"));
        parts.push(plural(
            f.ws_messages,
            "WebSocket message",
            "WebSocket messages",
        ));
    }
    if f.sse_events > 0 {
        parts.push(plural(f.sse_events, "SSE event", "SSE events"));
    }
    if !parts.is_empty() {
        s.push_str(": ");
        s.push_str(&parts.join(", "));
    }
    s
}

/// What a capture with no flow says about why.
fn empty_note(v: &CaptureVerdict) -> Option<String> {
    if v.flows > 0 || v.error.is_some() {
        return None;
    }
    let why = match (v.kind, v.skipped_by_port) {
        (Some(kind), _) => format!("no {kind} flow (--kind {kind})"),
        (None, 0) => "no TCP flow to check".to_string(),
        (None, n) => format!(
            "{} on other ports skipped (check them with --any-port or -p)",
            plural(n, "TCP flow", "TCP flows")
        ),
    };
    Some(if v.min_flows > 0 {
        why
    } else {
        format!("{why}; --fail-if-empty fails such a capture")
    })
}

/// The line for one capture, and with `-v` its findings under it.
pub fn text(v: &CaptureVerdict, style: TextStyle) -> String {
    let pass = v.pass();
    if pass && style.quiet {
        return String::new();
    }
    let paint = Style::new(style.color);
    let mut s = String::new();
    if pass {
        paint.push(&mut s, Paint::Ok, "PASS");
    } else {
        paint.push(&mut s, Paint::Error, "FAIL");
    }
    let _ = write!(s, " {}: ", shown(&v.file));
    let mut parts = if pass {
        vec![found_line(v)]
    } else {
        v.reasons()
    };
    if v.error.is_none() {
        if !pass
            && v.codes_by_effect(Effect::Fail).is_empty()
            && !v.too_few_flows()
            && v.forbidden_records() == 0
        {
            parts.insert(0, "errors: none".into());
        }
        for effect in [Effect::Warn, Effect::Allow, Effect::Note] {
            let codes = v.codes_by_effect(effect);
            if !codes.is_empty() {
                parts.push(format!("{}: {}", effect.label(), code_counts(&codes)));
            }
        }
        if let Some(note) = empty_note(v) {
            parts.push(format!("note: {note}"));
        }
    }
    s.push_str(&shown(&parts.join("; ")));
    s.push('\n');
    if style.verbose {
        for f in &v.tally.findings {
            s.push_str("    ");
            finding_text(&mut s, f, paint);
            s.push('\n');
        }
        let unlisted = v.tally.unlisted_failing + v.tally.unlisted_other;
        if unlisted > 0 {
            let _ = writeln!(s, "    … and {unlisted} more (not listed)");
        }
    }
    s
}

/// `error   ws.masked_server_frame  flow 1, packet 11, s2c: text server frame with mask`.
fn finding_text(s: &mut String, f: &Finding, paint: Style) {
    let word = match f.effect {
        Effect::Fail => "error",
        Effect::Warn => "warning",
        Effect::Allow => "allowed",
        Effect::Note => "note",
    };
    let color = match f.effect {
        Effect::Fail => Paint::Error,
        Effect::Warn => Paint::Warning,
        Effect::Allow | Effect::Note => Paint::Dim,
    };
    paint.push(s, color, &format!("{word:<7}"));
    let _ = write!(s, " {}", f.subject.id());
    let place = f.place();
    if !place.is_empty() {
        let _ = write!(s, "  {place}");
    }
    let _ = write!(s, ": {}", shown(&f.detail));
    if let Some(rule) = &f.rule {
        let _ = write!(s, " [{}]", shown(rule));
    }
}

/// `12 captures: 10 passed, 1 failed, 1 unreadable`.
pub fn text_tally(t: &Totals) -> String {
    format!(
        "{} captures: {} passed, {} failed{}\n",
        t.captures,
        t.passed,
        t.failed,
        if t.unreadable > 0 {
            format!(", {} unreadable", t.unreadable)
        } else {
            String::new()
        }
    )
}

fn finding_json(f: &Finding) -> Value {
    let rule = match f.subject {
        Subject::Anomaly(_) => "anomaly",
        Subject::Forbid => "forbid",
    };
    json!({
        "rule": rule,
        "code": f.subject.id(),
        "severity": f.subject.severity().as_str(),
        "effect": f.effect.as_str(),
        "decided_by": f.rule,
        "flow": f.flow,
        "frame": f.frame,
        "dir": f.dir.map(|d| d.as_str()),
        "ts": ts_secs(f.ts),
        "detail": f.detail,
    })
}

/// One `check` record.
pub fn json(v: &CaptureVerdict) -> String {
    let mut r = json!({
        "type": "check",
        "file": v.file,
        "pass": v.pass(),
        "flows": v.flows,
        "packets": v.packets,
        "anomalies": v.tally.codes.iter()
            .map(|(c, n)| (c.as_str().to_string(), json!(n)))
            .collect::<serde_json::Map<String, Value>>(),
        "reasons": v.reasons(),
        "findings": v.tally.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "unlisted": v.tally.unlisted_failing + v.tally.unlisted_other,
        "skipped_flows": v.skipped_by_port,
        "min_flows": v.min_flows,
    });
    if !v.forbidden.is_empty() {
        r["forbidden"] = v
            .forbidden
            .iter()
            .map(|(expr, n)| (expr.clone(), json!(n)))
            .collect::<serde_json::Map<String, Value>>()
            .into();
    }
    if let Some(e) = &v.error {
        r["unreadable"] = json!(true);
        r["error"] = json!(e);
    }
    let mut s = json_line(&r);
    s.push('\n');
    s
}

/// The `check_summary` record.
pub fn json_tally(t: &Totals) -> String {
    let mut s = json_line(&json!({
        "type": "check_summary",
        "captures": t.captures,
        "passed": t.passed,
        "failed": t.failed,
        "unreadable": t.unreadable,
    }));
    s.push('\n');
    s
}

/// Escapes a workflow command's message (`%`, CR, LF) or, with `property`, a property value
/// (also `:` and `,`), as the GitHub Actions runner reads them.
fn github_escape(s: &str, property: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in shown(s).chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' if property => out.push_str("%3A"),
            ',' if property => out.push_str("%2C"),
            c => out.push(c),
        }
    }
    out
}

/// The text lines, then one annotation per finding that fails or warns (allowed ones are not
/// annotated), and one for an unreadable file or too few flows.
pub fn github(v: &CaptureVerdict, style: TextStyle) -> String {
    let mut s = text(v, style);
    let file = if v.file == "-" {
        String::new()
    } else {
        format!("file={},", github_escape(&v.file, true))
    };
    let mut line = |level: &str, title: &str, message: &str| {
        let _ = writeln!(
            s,
            "::{level} {file}title={}::{}",
            github_escape(title, true),
            github_escape(message, false)
        );
    };
    if let Some(e) = &v.error {
        line("error", "unreadable capture", e);
        return s;
    }
    if v.too_few_flows() {
        line(
            "error",
            "too few flows",
            &format!("{} flows, --min-flows asks for {}", v.flows, v.min_flows),
        );
    }
    for f in &v.tally.findings {
        let level = match f.effect {
            Effect::Fail => "error",
            Effect::Warn => "warning",
            Effect::Note => "notice",
            Effect::Allow => continue,
        };
        line(level, f.subject.id(), &finding_message(f));
    }
    if v.tally.unlisted_failing > 0 {
        line(
            "error",
            "more anomalies",
            &format!(
                "{} more failing anomalies not listed",
                v.tally.unlisted_failing
            ),
        );
    }
    s
}

/// `flow 1, packet 11, s2c: text server frame with mask`.
fn finding_message(f: &Finding) -> String {
    let place = f.place();
    if place.is_empty() {
        f.detail.clone()
    } else {
        format!("{place}: {}", f.detail)
    }
}

/// Text for XML content and attribute values: markup characters as entities, and characters
/// XML 1.0 cannot hold written as visible escapes.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                out.push_str(&c.escape_default().to_string());
            }
            c => out.push(c),
        }
    }
    out
}

/// A JUnit XML report: one testsuite, one testcase per capture, one `<failure>` per failing
/// finding (and for too few flows), an `<error>` for an unreadable capture.
pub fn junit(verdicts: &[CaptureVerdict], totals: &Totals) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts = format!(
        "tests=\"{}\" failures=\"{}\" errors=\"{}\"",
        totals.captures, totals.failed, totals.unreadable
    );
    let _ = writeln!(s, "<testsuites name=\"sockscope check\" {counts}>");
    let _ = writeln!(
        s,
        "  <testsuite name=\"sockscope check\" {counts} skipped=\"0\">"
    );
    for v in verdicts {
        let _ = write!(
            s,
            "    <testcase name=\"{}\" classname=\"sockscope.check\"",
            xml(&v.file)
        );
        let mut body = String::new();
        if let Some(e) = &v.error {
            let _ = writeln!(
                body,
                "      <error type=\"unreadable\" message=\"{}\"/>",
                xml(e)
            );
        } else {
            if v.too_few_flows() {
                let _ = writeln!(
                    body,
                    "      <failure type=\"min_flows\" message=\"{}\"/>",
                    xml(&format!(
                        "{} flows, --min-flows asks for {}",
                        v.flows, v.min_flows
                    ))
                );
            }
            for f in v.tally.findings.iter().filter(|f| f.effect == Effect::Fail) {
                let _ = writeln!(
                    body,
                    "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                    xml(f.subject.id()),
                    xml(&finding_message(f)),
                    xml(&finding_long(f))
                );
            }
            if v.tally.unlisted_failing > 0 {
                let _ = writeln!(
                    body,
                    "      <failure type=\"unlisted\" message=\"{} more failing anomalies not listed\"/>",
                    v.tally.unlisted_failing
                );
            }
            let _ = writeln!(
                body,
                "      <system-out>{}</system-out>",
                xml(&found_line(v))
            );
        }
        let _ = write!(s, ">\n{body}    </testcase>\n");
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

/// `ws.masked_server_frame (error): flow 1, packet 11, s2c: … [--deny ws.*]`.
fn finding_long(f: &Finding) -> String {
    let sev = f.subject.severity().as_str();
    let mut s = format!("{} ({sev}): {}", f.subject.id(), finding_message(f));
    if let Some(r) = &f.rule {
        let _ = write!(s, " [{r}]");
    }
    s
}

/// A file name as a URI reference: relative paths stay relative (to the repository, for
/// code scanning), absolute ones become `file://` URIs; bytes outside the unreserved set and
/// `/` are percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::new();
    if path.starts_with('/') {
        out.push_str("file://");
    }
    let path = path.strip_prefix("./").unwrap_or(path);
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The SARIF rule for a subject, or for a capture-level problem.
fn sarif_rule(id: &str, text: &str, level: &str) -> Value {
    json!({
        "id": id,
        "shortDescription": {"text": text},
        "defaultConfiguration": {"level": level},
    })
}

/// A SARIF 2.1.0 log: one run, a rule per anomaly code (and `check.unreadable`,
/// `check.min_flows`, `check.forbid`), one result per finding. Allowed findings are results with an external
/// suppression that names the `--allow` rule; warnings are `warning`, failing ones `error`.
pub fn sarif(verdicts: &[CaptureVerdict]) -> String {
    let mut rules: Vec<Value> = Code::ALL
        .iter()
        .map(|c| {
            let level = match c.severity() {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "note",
            };
            sarif_rule(c.as_str(), c.description(), level)
        })
        .collect();
    let unreadable_rule = rules.len();
    rules.push(sarif_rule(
        "check.unreadable",
        "the capture could not be read",
        "error",
    ));
    let min_flows_rule = rules.len();
    rules.push(sarif_rule(
        "check.min_flows",
        "fewer flows than --min-flows / --fail-if-empty ask for",
        "error",
    ));
    let forbid_rule = rules.len();
    rules.push(sarif_rule(
        FORBID_ID,
        "a record matched a --forbid display filter",
        "error",
    ));
    let rule_index = |subject: Subject| match subject {
        Subject::Anomaly(code) => Code::ALL.iter().position(|&c| c == code).unwrap_or(0),
        Subject::Forbid => forbid_rule,
    };
    let mut results = Vec::new();
    let mut artifacts = Vec::new();
    for v in verdicts {
        let location = (v.file != "-")
            .then(|| json!({"physicalLocation": {"artifactLocation": {"uri": uri(&v.file)}}}));
        if location.is_some() {
            artifacts.push(json!({"location": {"uri": uri(&v.file)}}));
        }
        let mut push = |rule: &str, index: usize, level: &str, text: String, extra: Value| {
            let mut r = json!({
                "ruleId": rule,
                "ruleIndex": index,
                "level": level,
                "message": {"text": text},
                "locations": location.iter().cloned().collect::<Vec<_>>(),
                "partialFingerprints": {
                    "sockscopeFinding/v1": fingerprint(&[&v.file, rule, &extra.to_string()]),
                },
            });
            if let (Some(r), Value::Object(extra)) = (r.as_object_mut(), extra) {
                r.extend(extra);
            }
            results.push(r);
        };
        if let Some(e) = &v.error {
            push(
                "check.unreadable",
                unreadable_rule,
                "error",
                format!("{}: {e}", v.file),
                json!({}),
            );
            continue;
        }
        if v.too_few_flows() {
            push(
                "check.min_flows",
                min_flows_rule,
                "error",
                format!(
                    "{}: {} flows, --min-flows asks for {}",
                    v.file, v.flows, v.min_flows
                ),
                json!({}),
            );
        }
        for f in &v.tally.findings {
            let level = match f.effect {
                Effect::Fail => "error",
                Effect::Warn | Effect::Allow => "warning",
                Effect::Note => "note",
            };
            let mut extra = json!({
                "properties": {
                    "flow": f.flow,
                    "frame": f.frame,
                    "dir": f.dir.map(|d| d.as_str()),
                    "ts": ts_secs(f.ts),
                    "severity": f.subject.severity().as_str(),
                    "effect": f.effect.as_str(),
                },
            });
            if f.effect == Effect::Allow {
                extra["suppressions"] = json!([{
                    "kind": "external",
                    "justification": f.rule.as_deref().unwrap_or("--allow"),
                }]);
            }
            push(
                f.subject.id(),
                rule_index(f.subject),
                level,
                finding_message(f),
                extra,
            );
        }
    }
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "sockscope",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "artifacts": artifacts,
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    });
    let mut s = serde_json::to_string_pretty(&log).unwrap_or_default();
    s.push('\n');
    s
}

/// A stable fingerprint of a result, so code scanning recognises it from run to run.
fn fingerprint(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()
        .iter()
        .take(16)
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::verdict::Tally;
    use crate::tcp::Dir;
    use crate::time::Timestamp;
    use std::collections::BTreeMap;

    fn failing() -> CaptureVerdict {
        let f = Finding {
            subject: Subject::Anomaly(Code::WsMaskedServerFrame),
            effect: Effect::Fail,
            rule: None,
            flow: Some(1),
            frame: Some(11),
            dir: Some(Dir::S2C),
            ts: Timestamp::ZERO,
            detail: "text <server> frame & \"mask\"\x1b[2J".into(),
        };
        CaptureVerdict {
            file: "dir/a b.pcap".into(),
            packets: 16,
            flows: 1,
            tally: Tally {
                codes: BTreeMap::from([(Code::WsMaskedServerFrame, 1)]),
                findings: vec![f],
                ..Default::default()
            },
            effects: BTreeMap::from([(Code::WsMaskedServerFrame, (Effect::Fail, None))]),
            ..Default::default()
        }
    }

    #[test]
    fn text_names_each_finding_with_verbose() {
        let v = failing();
        let plain = text(&v, TextStyle::default());
        assert_eq!(
            plain,
            "FAIL dir/a b.pcap: errors: ws.masked_server_frame ×1\n"
        );
        let verbose = text(
            &v,
            TextStyle {
                verbose: true,
                ..Default::default()
            },
        );
        assert!(
            verbose.ends_with(
                "    error   ws.masked_server_frame  flow 1, packet 11, s2c: \
                 text <server> frame & \"mask\"\\x1b[2J\n"
            ),
            "{verbose}"
        );
        assert!(!verbose.contains('\x1b'));
    }

    #[test]
    fn github_annotations_escape_their_syntax() {
        let mut v = failing();
        v.file = "a,b:c.pcap".into();
        v.tally.findings[0].detail = "50% done\nnext".into();
        let s = github(&v, TextStyle::default());
        assert!(
            s.contains(
                "::error file=a%2Cb%3Ac.pcap,title=ws.masked_server_frame::\
                 flow 1, packet 11, s2c: 50%25 done\\nnext\n"
            ),
            "{s}"
        );
        assert_eq!(s.lines().filter(|l| l.starts_with("::")).count(), 1, "{s}");
    }

    #[test]
    fn junit_escapes_markup_and_controls() {
        let v = failing();
        let mut t = Totals::default();
        t.count(&v);
        let x = junit(&[v], &t);
        assert!(x.contains("<testcase name=\"dir/a b.pcap\""), "{x}");
        assert!(x.contains("type=\"ws.masked_server_frame\""), "{x}");
        assert!(
            x.contains("text &lt;server&gt; frame &amp; &quot;mask&quot;\\u{1b}[2J"),
            "{x}"
        );
        assert!(!x.contains('\x1b'));
        assert!(x.contains("tests=\"1\" failures=\"1\" errors=\"0\""), "{x}");
    }

    #[test]
    fn uris_are_references() {
        assert_eq!(uri("captures/bad/x.pcap"), "captures/bad/x.pcap");
        assert_eq!(uri("./a b.pcap"), "a%20b.pcap");
        assert_eq!(uri("/tmp/x#1.pcap"), "file:///tmp/x%231.pcap");
    }
}
