//! What sockscope hands to other tools, through the built binary on the bundled captures:
//! the Community ID of every flow against tshark's, and `--shard K/N` (N processes over the
//! same capture report exactly what one process reports).

mod common;

use common::{Report, str_of};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every capture under `captures/`, subdirectories included, sorted.
fn all_captures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("captures dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&common::captures(), &mut out);
    assert!(out.len() > 20, "the bundled captures are missing");
    out
}

/// `read --json --any-port` of `file`, with `extra` options.
fn records(file: &Path, extra: &[&str]) -> Report {
    let mut args = vec!["--any-port"];
    args.extend_from_slice(extra);
    common::read_json(file, &args)
}

/// A flow as every process names it: its Community ID and first packet time.
fn flow_key(flow: &Value) -> String {
    format!(
        "{}@{}",
        str_of(flow, "community_id").expect("community_id"),
        flow["first_ts"]
    )
}

/// The records of one run (the summary aside), each as a canonical JSON string in which flow
/// ids are replaced by [`flow_key`]s: comparable between processes that number flows apart.
fn keyed_records(report: &Report) -> Vec<String> {
    let keys: BTreeMap<u64, String> = report
        .of_type("flow")
        .map(|f| (f["id"].as_u64().expect("id"), flow_key(f)))
        .collect();
    let mut out: Vec<String> = report
        .records
        .iter()
        .filter(|r| str_of(r, "type") != Some("summary"))
        .map(|r| {
            let mut r = r.clone();
            let obj = r.as_object_mut().expect("record object");
            if str_of(&Value::Object(obj.clone()), "type") == Some("flow") {
                obj.remove("id");
            } else if let Some(id) = obj.get("flow").and_then(Value::as_u64) {
                let key = keys.get(&id).cloned().unwrap_or_else(|| {
                    panic!("record of flow {id} without its flow record: {obj:?}")
                });
                obj.insert("flow".into(), Value::String(key));
            }
            canonical(&r)
        })
        .collect();
    out.sort();
    out
}

/// A JSON value with its object keys sorted, as one string.
fn canonical(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

/// Adds the counters of `part` into `sum`: numbers add, objects add key by key; `first_ts` /
/// `last_ts` take the earliest / latest; the overhead rows add per kind (their percentages are
/// left out, as they do not add); the what-if rows are keyed by flow.
fn add_summary(sum: &mut Map<String, Value>, part: &Value, keys: &BTreeMap<u64, String>) {
    for (k, v) in part.as_object().expect("summary object") {
        match (k.as_str(), v) {
            ("type", _) => {
                sum.insert(k.clone(), v.clone());
            }
            ("first_ts" | "last_ts", Value::Null) => {
                sum.entry(k.clone()).or_insert(Value::Null);
            }
            ("first_ts" | "last_ts", Value::Number(n)) => {
                let t = n.as_f64().expect("time");
                let keep = match sum.get(k).and_then(Value::as_f64) {
                    None => t,
                    Some(old) if k == "first_ts" => old.min(t),
                    Some(old) => old.max(t),
                };
                sum.insert(k.clone(), keep.into());
            }
            ("overhead", Value::Array(rows)) => {
                let mut by_kind: BTreeMap<String, Value> = sum
                    .get(k)
                    .and_then(Value::as_object)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                for row in rows {
                    let mut row = row.as_object().expect("row").clone();
                    row.remove("overhead_pct");
                    let kind = row.remove("kind").expect("kind");
                    let slot = by_kind
                        .entry(kind.as_str().expect("kind").to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    add_numbers(slot.as_object_mut().expect("object"), &Value::Object(row));
                }
                sum.insert(k.clone(), Value::Object(by_kind.into_iter().collect()));
            }
            ("what_if", Value::Array(rows)) => {
                let mut keyed = sum
                    .get(k)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                for row in rows {
                    let mut row = row.clone();
                    let id = row["flow"].as_u64().expect("what_if flow");
                    let key = keys[&id].clone();
                    row.as_object_mut().expect("row").remove("flow");
                    keyed.insert(key, row);
                }
                sum.insert(k.clone(), Value::Object(keyed));
            }
            (_, Value::Number(_)) | (_, Value::Object(_)) => {
                let mut one = Map::new();
                one.insert(k.clone(), v.clone());
                add_numbers(sum, &Value::Object(one));
            }
            (_, other) => panic!("summary field {k} is neither a count nor known: {other}"),
        }
    }
}

/// `sum += part`, recursively over objects of integers.
fn add_numbers(sum: &mut Map<String, Value>, part: &Value) {
    for (k, v) in part.as_object().expect("object") {
        match v {
            Value::Number(n) => {
                let n = n
                    .as_u64()
                    .unwrap_or_else(|| panic!("{k} is not a count: {n}"));
                let old = sum.get(k).and_then(Value::as_u64).unwrap_or(0);
                sum.insert(k.clone(), (old + n).into());
            }
            Value::Object(_) => {
                let slot = sum
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                add_numbers(slot.as_object_mut().expect("object"), v);
            }
            other => panic!("{k} is not a count: {other}"),
        }
    }
}

/// The summary of `reports` added up, as [`add_summary`] adds.
fn summed(reports: &[&Report]) -> Value {
    let mut sum = Map::new();
    for r in reports {
        let keys = r
            .of_type("flow")
            .map(|f| (f["id"].as_u64().expect("id"), flow_key(f)))
            .collect();
        add_summary(&mut sum, r.summary(), &keys);
    }
    Value::Object(sum)
}

#[test]
fn shards_together_report_what_one_process_reports() {
    let mut checked = 0;
    for file in all_captures() {
        let whole = records(&file, &[]);
        let whole_records = keyed_records(&whole);
        let whole_summary = summed(&[&whole]);
        for n in 1..=3u32 {
            let parts: Vec<Report> = (1..=n)
                .map(|k| records(&file, &["--shard", &format!("{k}/{n}")]))
                .collect();
            let mut union: Vec<String> = parts.iter().flat_map(keyed_records).collect();
            union.sort();
            let name = file.display();
            assert!(
                union == whole_records,
                "{name}: the records of {n} shards differ from one process's:\n{}",
                diff(&whole_records, &union)
            );
            let refs: Vec<&Report> = parts.iter().collect();
            assert_eq!(
                summed(&refs),
                whole_summary,
                "{name}: the summaries of {n} shards do not add up to one process's"
            );
            checked += 1;
        }
    }
    assert!(checked > 60);
}

/// The lines only one side has.
fn diff(want: &[String], got: &[String]) -> String {
    let want: BTreeSet<&String> = want.iter().collect();
    let got: BTreeSet<&String> = got.iter().collect();
    let mut out = String::new();
    for w in want.difference(&got) {
        out += &format!("- {w}\n");
    }
    for g in got.difference(&want) {
        out += &format!("+ {g}\n");
    }
    out
}

#[test]
fn shards_split_flows_between_them() {
    // Two flows of ws-chat and the many of http-keepalive and polling land in more than one
    // shard of three (the hash spreads them), each exactly once.
    let mut owners = BTreeSet::new();
    for file in ["polling.pcap", "http-keepalive.pcap", "ws-chat.pcap"] {
        let path = common::capture(file);
        let whole = records(&path, &[]).of_type("flow").count();
        let mut seen = 0;
        for k in 1..=3 {
            let n = records(&path, &["--shard", &format!("{k}/3")])
                .of_type("flow")
                .count();
            if n > 0 {
                owners.insert(k);
            }
            seen += n;
        }
        assert_eq!(seen, whole, "{file}");
    }
    assert!(owners.len() > 1, "every flow went to one shard: {owners:?}");
}

#[test]
fn a_shard_out_of_range_is_a_usage_error() {
    for bad in ["0/2", "3/2", "1/0", "two"] {
        let run = common::sockscope(&["read", "--shard", bad, "captures/ws-chat.pcap"]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(run.stderr.contains("--shard"), "{bad}: {}", run.stderr);
    }
}

#[test]
fn community_ids_are_the_ones_tshark_computes() {
    if let Err(why) = common::tshark() {
        common::skip(why);
        return;
    }
    let mut flows = 0;
    for file in all_captures() {
        let out = Command::new("tshark")
            .args(["-n", "--enable-protocol", "communityid", "-T", "fields"])
            .args(["-e", "communityid", "-r"])
            .arg(&file)
            .output()
            .expect("run tshark");
        assert!(out.status.success(), "tshark on {}", file.display());
        let theirs: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        for f in records(&file, &[]).of_type("flow") {
            let id = str_of(f, "community_id").expect("community_id");
            assert!(
                theirs.contains(id),
                "{}: flow {} ({} -> {}) has Community ID {id}, which tshark does not give \
                 ({theirs:?})",
                file.display(),
                f["id"],
                f["client"],
                f["server"]
            );
            flows += 1;
        }
    }
    assert!(flows > 50, "{flows}");
}
