//! The anomaly codes' explanations for the page, read from docs/anomalies.md when sockscope is
//! built: every table row whose first cell is a code (`` `ws.accept_mismatch` ``) gives the
//! code, its severity and when it is raised (Markdown, which the page shows as text with the
//! `code` spans set apart).

use serde::Serialize;

const ANOMALIES_MD: &str = include_str!("../../../docs/anomalies.md");

/// One code's row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry<'a> {
    pub code: &'a str,
    pub severity: &'a str,
    pub when: &'a str,
}

/// Every code documented in docs/anomalies.md, in the document's order.
pub fn entries() -> Vec<Entry<'static>> {
    parse(ANOMALIES_MD)
}

fn parse(md: &str) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    for line in md.lines() {
        let Some(row) = line.strip_prefix('|') else {
            continue;
        };
        let mut cells = row.split(" | ").map(str::trim);
        let (Some(code), Some(severity), Some(when)) = (cells.next(), cells.next(), cells.next())
        else {
            continue;
        };
        let Some(code) = code.strip_prefix('`').and_then(|c| c.strip_suffix('`')) else {
            continue;
        };
        let when = when.strip_suffix('|').unwrap_or(when).trim();
        if code.contains('.') && !code.contains(' ') {
            out.push(Entry {
                code,
                severity,
                when,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Code;

    #[test]
    fn every_code_is_explained_with_its_severity() {
        let entries = entries();
        for code in Code::ALL {
            let e = entries
                .iter()
                .find(|e| e.code == code.as_str())
                .unwrap_or_else(|| panic!("{} not in docs/anomalies.md", code.as_str()));
            assert_eq!(e.severity, code.severity().as_str(), "{}", e.code);
            assert!(e.when.len() > 10, "{}: {}", e.code, e.when);
            assert!(!e.when.ends_with('|'), "{}", e.when);
        }
        assert_eq!(entries.len(), Code::ALL.len(), "{entries:?}");
    }

    #[test]
    fn rows_of_other_tables_are_not_codes() {
        let md = "| code | severity | raised when |\n|---|---|---|\n\
                  | `a.b` | error | when `x` | `bad/a.pcap` |\n\
                  | buffer | cap | when hit |\n| `--max-flows` | 1 | 2 |\n";
        assert_eq!(
            parse(md),
            vec![Entry {
                code: "a.b",
                severity: "error",
                when: "when `x`"
            }]
        );
    }
}
