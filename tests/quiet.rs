//! `read -q` prints only tables: anomaly examples, latency rows and flow rows. Where no output
//! reads the records of what flows carried (frames, messages, HTTP messages, handshakes), the
//! analysis does not hand them on, keeps no bytes for display and does not decode messages
//! whose only result is in those records (plain JSON chosen by its content). The tables must
//! not notice: every bundled capture prints the same `-q` report whether or not another output
//! (`--har`, `--zeek`) reads every record beside it; `check` gives every capture the same verdict
//! whether or not a `--forbid` rule reads every record.

mod common;

use common::sockscope;

fn read(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["read", "--color", "never"];
    all.extend_from_slice(args);
    let run = sockscope(&all);
    (run.code, run.stdout, run.stderr)
}

#[test]
fn the_quiet_report_is_the_same_when_another_output_reads_every_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let har = dir.path().join("out.har");
    let har = har.to_str().expect("utf-8 path");
    let zeek = dir.path().join("zeek");
    let zeek = zeek.to_str().expect("utf-8 path");
    let files = common::bundled_captures();
    assert!(files.len() > 30, "captures found: {}", files.len());
    for file in &files {
        let name = file.to_str().expect("utf-8 path");
        for extra in [&[][..], &["--any-port"][..], &["-z", "conv,tcp"][..]] {
            let mut quiet = vec!["-q"];
            quiet.extend_from_slice(extra);
            quiet.push(name);
            let alone = read(&quiet);
            for beside in [["--har", har], ["--zeek", zeek]] {
                let mut both = vec!["-q", beside[0], beside[1]];
                both.extend_from_slice(extra);
                both.push(name);
                let with = read(&both);
                assert!(
                    alone == with,
                    "{name} {extra:?}: -q alone differs from -q {beside:?}\n--- alone:\n{}\n{}\n--- \
                     with:\n{}\n{}",
                    alone.1,
                    alone.2,
                    with.1,
                    with.2
                );
            }
            assert!(!alone.1.trim().is_empty(), "{name}: -q printed nothing");
        }
    }
}

/// `check` makes its verdict of anomalies and the flows' closing summaries alone, unless
/// `--kind` or `--forbid` reads the other records: with `--forbid` on a filter nothing matches,
/// every verdict is the same.
#[test]
fn check_verdicts_are_the_same_when_a_forbid_rule_reads_every_record() {
    let files = common::bundled_captures();
    for file in &files {
        let name = file.to_str().expect("utf-8 path");
        let ways: [(&str, &[&str]); 4] = [
            ("text", &[]),
            ("text", &["--strict", "-V"]),
            ("sarif", &[]),
            ("sarif", &["--strict"]),
        ];
        for (format, strict) in ways {
            let mut alone = vec!["check", "--color", "never", "--format", format];
            alone.extend_from_slice(strict);
            let mut with = alone.clone();
            with.extend_from_slice(&["--forbid", "flow.id == 0"]);
            alone.push(name);
            with.push(name);
            let (a, w) = (sockscope(&alone), sockscope(&with));
            assert!(
                (a.code, &a.stdout, &a.stderr) == (w.code, &w.stdout, &w.stderr),
                "{name} {format} {strict:?}: check differs with a --forbid that reads every \
                 record\n--- alone:\n{}\n{}\n--- with:\n{}\n{}",
                a.stdout,
                a.stderr,
                w.stdout,
                w.stderr
            );
            assert!(!a.stdout.is_empty(), "{name}: check printed nothing");
        }
    }
}
