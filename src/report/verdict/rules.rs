//! The rules that decide whether an anomaly fails a capture: by default an error-severity
//! anomaly does and a warning does not (`--strict`: every warning does too; an `info` note never
//! does unless `--deny` names it); `--deny CODE|GLOB`
//! fails on a code whatever its severity, `--allow CODE|GLOB` never fails on it.
//!
//! Precedence, when patterns of both kinds match a code: the more specific pattern wins. An
//! exact code beats any glob; between globs, the one with more literal characters wins
//! (`ws.invalid_*` beats `ws.*`); on a tie `--deny` wins, so a gate never opens by accident.
//! Every pattern must name a known code or match at least one, so a typo is refused rather than
//! silently matching nothing.

use crate::model::{Code, Severity};

/// What an anomaly does to its capture's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    /// It fails the capture.
    Fail,
    /// It is reported, and does not fail the capture.
    Warn,
    /// A rule lets it pass.
    Allow,
    /// An `info` note on what the capture does not let sockscope judge: listed, never fails
    /// (not even with `--strict`).
    Note,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Fail => "fail",
            Effect::Warn => "warn",
            Effect::Allow => "allow",
            Effect::Note => "note",
        }
    }

    /// The word the text verdicts group codes under.
    pub fn label(self) -> &'static str {
        match self {
            Effect::Fail => "errors",
            Effect::Warn => "warnings",
            Effect::Allow => "allowed",
            Effect::Note => "notes",
        }
    }
}

/// One `--deny` or `--allow` pattern.
#[derive(Clone, Debug)]
struct Pattern {
    text: String,
    deny: bool,
}

impl Pattern {
    fn is_glob(&self) -> bool {
        self.text.contains(['*', '?'])
    }

    fn matches(&self, code: Code) -> bool {
        glob_match(self.text.as_bytes(), code.as_str().as_bytes())
    }

    /// Orders matching patterns: exact codes first, then globs by literal characters; deny
    /// before allow on a tie.
    fn rank(&self) -> (bool, usize, bool) {
        let literal = self
            .text
            .chars()
            .filter(|c| !matches!(c, '*' | '?'))
            .count();
        (!self.is_glob(), literal, self.deny)
    }

    /// How the pattern is shown next to what it decided: `--deny ws.*`.
    fn shown(&self) -> String {
        format!(
            "--{} {}",
            if self.deny { "deny" } else { "allow" },
            self.text
        )
    }
}

/// `*` matches any run of characters, `?` one character, everything else itself.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it has been tried up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// `--deny`, `--allow` and `--strict`, checked.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    patterns: Vec<Pattern>,
    strict: bool,
}

impl Rules {
    /// Checks the patterns: each must be a known code or a glob matching one.
    pub fn new(deny: &[String], allow: &[String], strict: bool) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for (list, is_deny) in [(deny, true), (allow, false)] {
            for text in list {
                let p = Pattern {
                    text: text.trim().to_string(),
                    deny: is_deny,
                };
                let flag = if is_deny { "--deny" } else { "--allow" };
                if p.text.is_empty() {
                    return Err(format!(
                        "{flag}: an empty pattern; give a code such as tcp.gap or a glob such as 'ws.*'"
                    ));
                }
                if !Code::ALL.iter().any(|&c| p.matches(c)) {
                    return Err(format!("{flag} {}: {}", p.text, unknown(&p)));
                }
                patterns.push(p);
            }
        }
        Ok(Rules { patterns, strict })
    }

    /// What an anomaly with `code` does, and the pattern that decided it (if one did).
    pub fn effect(&self, code: Code) -> (Effect, Option<String>) {
        let decider = self
            .patterns
            .iter()
            .filter(|p| p.matches(code))
            .max_by_key(|p| p.rank());
        match decider {
            Some(p) if p.deny => (Effect::Fail, Some(p.shown())),
            Some(p) => (Effect::Allow, Some(p.shown())),
            None if code.severity() == Severity::Info => (Effect::Note, None),
            None if self.strict || code.severity() == Severity::Error => (Effect::Fail, None),
            None => (Effect::Warn, None),
        }
    }
}

/// Why a pattern matches no code, with the nearest code when one is close.
fn unknown(p: &Pattern) -> String {
    let what = if p.is_glob() {
        "matches no anomaly code"
    } else {
        "no such anomaly code"
    };
    let literal: String = p.text.chars().filter(|c| !matches!(c, '*' | '?')).collect();
    let nearest = Code::ALL
        .iter()
        .map(|c| (strsim::jaro_winkler(&literal, c.as_str()), c.as_str()))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match nearest {
        Some((_, code)) => format!("{what}; did you mean {code}? (codes: docs/anomalies.md)"),
        None => format!("{what} (codes: docs/anomalies.md)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(deny: &[&str], allow: &[&str], strict: bool) -> Rules {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Rules::new(&s(deny), &s(allow), strict).expect("valid rules")
    }

    #[test]
    fn globs_match_like_a_shell() {
        for (p, t, want) in [
            ("ws.*", "ws.invalid_utf8", true),
            ("ws.*", "tcp.gap", false),
            ("*", "tcp.gap", true),
            ("tcp.ga?", "tcp.gap", true),
            ("tcp.ga?", "tcp.ga", false),
            ("*.gap", "tcp.gap", true),
            ("ws.*_frame", "ws.masked_server_frame", true),
            ("ws.*_frame", "ws.masked_server_frames", false),
            ("*a*a*", "banana", true),
            ("tcp.gap", "tcp.gap", true),
            ("tcp.gap", "tcp.gaps", false),
            ("", "", true),
            ("**", "", true),
        ] {
            assert_eq!(glob_match(p.as_bytes(), t.as_bytes()), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn severity_decides_without_rules() {
        let r = rules(&[], &[], false);
        assert_eq!(r.effect(Code::WsInvalidUtf8), (Effect::Fail, None));
        assert_eq!(r.effect(Code::TcpGap), (Effect::Warn, None));
        let strict = rules(&[], &[], true);
        assert_eq!(strict.effect(Code::TcpGap), (Effect::Fail, None));
    }

    #[test]
    fn the_more_specific_pattern_wins() {
        let r = rules(&["ws.*"], &["tcp.gap"], false);
        assert_eq!(r.effect(Code::WsNonMinimalLength).0, Effect::Fail);
        assert_eq!(
            r.effect(Code::TcpGap),
            (Effect::Allow, Some("--allow tcp.gap".into()))
        );
        assert_eq!(r.effect(Code::HttpParseError), (Effect::Fail, None));
        // An exact code beats a glob, whichever kind each is.
        let r = rules(&["ws.*"], &["ws.non_minimal_length"], false);
        assert_eq!(r.effect(Code::WsNonMinimalLength).0, Effect::Allow);
        assert_eq!(r.effect(Code::WsResync).0, Effect::Fail);
        let r = rules(&["ws.invalid_utf8"], &["ws.*"], true);
        assert_eq!(r.effect(Code::WsInvalidUtf8).0, Effect::Fail);
        assert_eq!(r.effect(Code::WsReservedOpcode).0, Effect::Allow);
        // A longer glob beats a shorter one; deny wins a tie.
        let r = rules(&["*"], &["ws.invalid_*"], false);
        assert_eq!(r.effect(Code::WsInvalidCloseCode).0, Effect::Allow);
        assert_eq!(r.effect(Code::TcpGap).0, Effect::Fail);
        let r = rules(&["tcp.*"], &["tcp.*"], false);
        assert_eq!(r.effect(Code::TcpGap).0, Effect::Fail);
    }

    #[test]
    fn patterns_that_match_nothing_are_refused() {
        let e = Rules::new(&["ws.masked_frame".into()], &[], false).unwrap_err();
        assert!(e.contains("no such anomaly code"), "{e}");
        assert!(e.contains("did you mean ws.masked_server_frame?"), "{e}");
        let e = Rules::new(&[], &["wss.*".into()], false).unwrap_err();
        assert!(
            e.starts_with("--allow wss.*: matches no anomaly code"),
            "{e}"
        );
        assert!(Rules::new(&[], &["".into()], false).is_err());
    }
}
