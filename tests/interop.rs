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
    let out = common::bundled_captures();
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
    keyed_records_as(report, &flow_keys(report))
}

/// The [`flow_key`] of each flow id of `report`.
fn flow_keys(report: &Report) -> BTreeMap<u64, String> {
    report
        .of_type("flow")
        .map(|f| (f["flow"].as_u64().expect("flow"), flow_key(f)))
        .collect()
}

/// [`keyed_records`] with the flows named by `keys` (a display filter may leave a flow's
/// record out: its keys come from the same process run without the filter).
fn keyed_records_as(report: &Report, keys: &BTreeMap<u64, String>) -> Vec<String> {
    let mut out: Vec<String> = report
        .records
        .iter()
        .filter(|r| str_of(r, "type") != Some("summary"))
        .map(|r| {
            let mut r = r.clone();
            let obj = r.as_object_mut().expect("record object");
            if str_of(&Value::Object(obj.clone()), "type") == Some("flow") {
                // Each process numbers its own flows (ids, tcp.stream).
                for numbered in ["flow", "id", "tcp_stream"] {
                    obj.remove(numbered);
                }
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
/// `last_ts` take the earliest / latest; the overhead rows add per kind (their ratios are left
/// out, as they do not add); the what-if rows are keyed by flow.
fn add_summary(sum: &mut Map<String, Value>, part: &Value, keys: &BTreeMap<u64, String>) {
    for (k, v) in part.as_object().expect("summary object") {
        match (k.as_str(), v) {
            ("type", _) => {
                sum.insert(k.clone(), v.clone());
            }
            // Kernel counters are live capture's only.
            ("kernel", Value::Null) => {
                sum.insert(k.clone(), Value::Null);
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
                    // Ratios do not add.
                    row.remove("overhead_pct");
                    row.remove("tcpip_bytes_per_packet");
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
    let keyed: Vec<(&Report, BTreeMap<u64, String>)> =
        reports.iter().map(|r| (*r, flow_keys(r))).collect();
    summed_as(&keyed)
}

/// [`summed`] with each report's flows named by the keys beside it.
fn summed_as(reports: &[(&Report, BTreeMap<u64, String>)]) -> Value {
    let mut sum = Map::new();
    for (r, keys) in reports {
        add_summary(&mut sum, r.summary(), keys);
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

#[test]
fn shards_compose_with_a_display_filter() {
    // -Y and --filter-flows judge records within their flow, and a flow is whole in one shard:
    // N shards filtered report together what one process filtered reports.
    let filters = [
        "ws.opcode == text",
        "http.status >= 400 || anomaly",
        "flow.kind == sse || sse",
    ];
    let files = [
        "ws-chat.pcap",
        "chromium-ws.pcap",
        "sse.pcap",
        "http-keepalive.pcap",
        "polling.pcap",
        "api-errors.pcap",
        "ws-lossy.pcap",
    ];
    let mut checked = 0;
    for name in files {
        let file = common::capture(name);
        // Flow ids per shard, from the same runs without the filter.
        let keys = |shard: &[&str]| flow_keys(&records(&file, shard));
        for filter in filters {
            for flows in [&[][..], &["--filter-flows"][..]] {
                let run = |shard: &[&str]| {
                    let mut args = vec!["-Y", filter];
                    args.extend_from_slice(flows);
                    args.extend_from_slice(shard);
                    records(&file, &args)
                };
                let whole = run(&[]);
                let whole_keys = keys(&[]);
                let want = keyed_records_as(&whole, &whole_keys);
                for n in 2..=3u32 {
                    let shards: Vec<String> = (1..=n).map(|k| format!("{k}/{n}")).collect();
                    let parts: Vec<(Report, BTreeMap<u64, String>)> = shards
                        .iter()
                        .map(|s| (run(&["--shard", s]), keys(&["--shard", s])))
                        .collect();
                    let mut union: Vec<String> = parts
                        .iter()
                        .flat_map(|(r, k)| keyed_records_as(r, k))
                        .collect();
                    union.sort();
                    assert!(
                        union == want,
                        "{name} -Y '{filter}' {flows:?}: {n} shards differ from one process:\n{}",
                        diff(&want, &union)
                    );
                    let refs: Vec<(&Report, BTreeMap<u64, String>)> =
                        parts.iter().map(|(r, k)| (r, k.clone())).collect();
                    assert_eq!(
                        summed_as(&refs),
                        summed_as(&[(&whole, whole_keys.clone())]),
                        "{name} -Y '{filter}' {flows:?}: the summaries of {n} shards"
                    );
                    checked += usize::from(!want.is_empty());
                }
            }
        }
    }
    assert!(checked > 20, "{checked} filtered runs matched anything");
}

/// `file` (a little-endian pcap) cut into files of `per_file` packets each, as `tcpdump -C`
/// would leave it, in `dir`.
fn rotated(file: &Path, per_file: usize, dir: &Path) -> Vec<PathBuf> {
    let bytes = std::fs::read(file).expect("read capture");
    assert_eq!(
        &bytes[..4],
        b"\xd4\xc3\xb2\xa1",
        "{}: a little-endian pcap",
        file.display()
    );
    let (header, mut rest) = bytes.split_at(24);
    let mut files = Vec::new();
    while !rest.is_empty() {
        let mut out = header.to_vec();
        for _ in 0..per_file {
            if rest.is_empty() {
                break;
            }
            let len = u32::from_le_bytes(rest[8..12].try_into().expect("caplen")) as usize;
            out.extend_from_slice(&rest[..16 + len]);
            rest = &rest[16 + len..];
        }
        let path = dir.join(format!("part-{:03}.pcap", files.len()));
        std::fs::write(&path, out).expect("write part");
        files.push(path);
    }
    files
}

#[test]
fn shards_of_rotated_files_read_as_one_capture_report_what_one_process_reports() {
    // Flows cross the files' boundaries; packet numbers continue from file to file.
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for (i, name) in ["chromium-ws.pcap", "http-keepalive.pcap", "polling.pcap"]
        .into_iter()
        .enumerate()
    {
        let dir = tmp.path().join(i.to_string());
        std::fs::create_dir(&dir).expect("dir");
        files.extend(rotated(&common::capture(name), 7, &dir));
    }
    assert!(files.len() > 10, "{} files", files.len());
    let run = |extra: &[&str]| {
        let mut args: Vec<std::ffi::OsString> = vec!["read".into(), "--json".into()];
        args.extend(extra.iter().map(Into::into));
        args.extend(files.iter().map(Into::into));
        common::sockscope(&args).report()
    };
    let whole = run(&[]);
    let want = keyed_records(&whole);
    assert!(
        want.iter().any(|r| r.contains("\"frame\":4")),
        "packet numbers present"
    );
    for n in 2..=3u32 {
        let parts: Vec<Report> = (1..=n)
            .map(|k| run(&["--shard", &format!("{k}/{n}")]))
            .collect();
        let mut union: Vec<String> = parts.iter().flat_map(keyed_records).collect();
        union.sort();
        assert!(
            union == want,
            "{n} shards of {} files differ from one process:\n{}",
            files.len(),
            diff(&want, &union)
        );
        let refs: Vec<&Report> = parts.iter().collect();
        assert_eq!(summed(&refs), summed(&[&whole]), "{n} shards' summaries");
    }
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
                f["flow"],
                f["client"],
                f["server"]
            );
            flows += 1;
        }
    }
    assert!(flows > 50, "{flows}");
}

// ---- Parquet, read back by DuckDB ----

/// The Python of the venv `.ci/run` makes for the Dask example (with `dask[distributed]` and
/// `duckdb`), or why the DuckDB comparisons are skipped.
#[cfg(feature = "parquet")]
fn python_with(module: &str) -> Result<PathBuf, String> {
    let python = common::root().join("examples/dask/.venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import {module} (.ci/run installs it: python3 -m venv examples/dask/.venv \
             && examples/dask/.venv/bin/pip install 'dask[distributed]' duckdb)",
            python.display()
        ))
    }
}

#[test]
#[cfg(feature = "parquet")]
fn parquet_tables_hold_what_json_says() {
    let python = match python_with("duckdb") {
        Ok(p) => p,
        Err(why) => {
            common::skip(why);
            return;
        }
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut pairs: Vec<PathBuf> = Vec::new();
    for (i, file) in all_captures().into_iter().enumerate() {
        let json = common::sockscope(&[
            "read".as_ref(),
            "--json".as_ref(),
            "--any-port".as_ref(),
            file.as_os_str(),
        ]);
        assert_eq!(json.code, 0, "{}: {}", file.display(), json.stderr);
        let jsonl = tmp.path().join(format!("{i}.jsonl"));
        std::fs::write(&jsonl, &json.stdout).expect("write JSON Lines");
        let dir = tmp.path().join(format!("{i}.parquet"));
        let run = common::sockscope(&[
            "read".as_ref(),
            "--format".as_ref(),
            "parquet".as_ref(),
            "--ws-frames".as_ref(),
            "--any-port".as_ref(),
            "--out".as_ref(),
            dir.as_os_str(),
            file.as_os_str(),
        ]);
        assert_eq!(run.code, 0, "{}: {}", file.display(), run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        pairs.push(jsonl);
        pairs.push(dir);
    }
    let out = Command::new(python)
        .arg(common::root().join("tests/interop/parquet_vs_json.py"))
        .args(&pairs)
        .output()
        .expect("run the DuckDB comparison");
    assert!(
        out.status.success(),
        "Parquet and JSON differ:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[cfg(feature = "parquet")]
fn parquet_files_appear_whole_and_ws_frames_only_when_asked() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("out");
    let run = common::sockscope(&[
        "read".as_ref(),
        "--format".as_ref(),
        "parquet".as_ref(),
        "--out".as_ref(),
        dir.as_os_str(),
        common::capture("ws-chat.pcap").as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "anomalies.parquet",
            "flows.parquet",
            "handshakes.parquet",
            "http.parquet",
            "sse_events.parquet",
            "summary.json",
            "ws_messages.parquet",
        ]
    );
    for file in names.iter().filter(|n| n.ends_with(".parquet")) {
        let bytes = std::fs::read(dir.join(file)).expect("read");
        assert!(
            bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
            "{file}"
        );
    }
    for (args, why) in [
        (&["--format", "parquet"][..], "--out"),
        (&["--out", "x"][..], "--format parquet"),
        (&["--ws-frames"][..], "--format parquet"),
        (
            &["--format", "parquet", "--out", "x", "--json"][..],
            "--json",
        ),
        (&["--format", "parquet", "--out", "x", "-V"][..], "-V"),
    ] {
        let mut all = vec!["read"];
        all.extend_from_slice(args);
        all.push("captures/ws-chat.pcap");
        let run = common::sockscope(&all);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(run.stderr.contains(why), "{args:?}: {}", run.stderr);
    }
}

// ---- examples/dask: Dask tasks per (capture, shard), DuckDB answers ----

/// An endpoint's host: the address without the port (nor an IPv6 address's brackets).
fn host(endpoint: &str) -> String {
    let (addr, _port) = endpoint.rsplit_once(':').expect("endpoint with a port");
    addr.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

/// The example's four answers, computed here from `read --json` of every capture.
#[cfg(feature = "parquet")]
fn answers_from_json(files: &[PathBuf]) -> Value {
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_second: BTreeMap<i64, u64> = BTreeMap::new();
    let mut sizes: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    for file in files {
        let report = records(file, &[]);
        let flows: BTreeMap<u64, &Value> = report.flows();
        for f in flows.values() {
            let (c, s) = (str_of(f, "client").unwrap(), str_of(f, "server").unwrap());
            *sent.entry(host(c)).or_default() += f["bytes_c2s"].as_u64().unwrap();
            *sent.entry(host(s)).or_default() += f["bytes_s2c"].as_u64().unwrap();
        }
        for m in report.of_type("ws_message") {
            let ts = m["ts"].as_f64().unwrap();
            *per_second.entry(ts.floor() as i64).or_default() += 1;
            let f = flows[&m["flow"].as_u64().unwrap()];
            let side = if str_of(m, "dir") == Some("c2s") {
                "client"
            } else {
                "server"
            };
            let h = host(str_of(f, side).unwrap());
            sizes.entry(h).or_default().push(m["len"].as_u64().unwrap());
        }
        for a in report.of_type("anomaly") {
            *codes
                .entry(str_of(a, "code").unwrap().to_string())
                .or_default() += 1;
        }
    }
    let mut talkers: Vec<(String, u64)> = sent.into_iter().collect();
    talkers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    talkers.truncate(10);
    let mut codes: Vec<(String, u64)> = codes.into_iter().collect();
    codes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    serde_json::json!({
        "top_talkers": talkers.iter().map(|(h, b)| serde_json::json!({"host": h, "bytes": b})).collect::<Vec<_>>(),
        "messages_per_second": per_second.iter().map(|(s, n)| serde_json::json!({"second": s, "messages": n})).collect::<Vec<_>>(),
        "p99_message_size": sizes.iter_mut().map(|(h, v)| {
            v.sort_unstable();
            // Nearest rank: the ceil(0.99 n)-th smallest.
            let rank = (v.len() * 99).div_ceil(100);
            serde_json::json!({"host": h, "p99_len": v[rank - 1]})
        }).collect::<Vec<_>>(),
        "anomalies_by_code": codes.iter().map(|(c, n)| serde_json::json!({"code": c, "count": n})).collect::<Vec<_>>(),
    })
}

#[test]
#[cfg(feature = "parquet")]
fn the_dask_example_answers_what_json_says() {
    let python = match python_with("dask.distributed, duckdb") {
        Ok(p) => p,
        Err(why) => {
            common::skip(why);
            return;
        }
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("out");
    let answers = tmp.path().join("answers.json");
    let run = Command::new(python)
        // Dask's workers keep their scratch space here, not in the system temp dir.
        .env("DASK_TEMPORARY_DIRECTORY", tmp.path())
        .arg(common::root().join("examples/dask/sockscope_dask.py"))
        .arg(common::captures())
        .args([
            "--shards",
            "3",
            "--workers",
            "2",
            "--sockscope",
            common::BIN,
        ])
        .arg("--out")
        .arg(&out)
        .arg("--answers")
        .arg(&answers)
        .args(["--", "--any-port"])
        .output()
        .expect("run the Dask example");
    assert!(
        run.status.success(),
        "the Dask example failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let got: Value =
        serde_json::from_str(&std::fs::read_to_string(&answers).expect("answers")).expect("JSON");
    let want = answers_from_json(&all_captures());
    for q in [
        "top_talkers",
        "messages_per_second",
        "p99_message_size",
        "anomalies_by_code",
    ] {
        assert_eq!(got[q], want[q], "{q}");
        assert!(!want[q].as_array().unwrap().is_empty(), "{q} has no rows");
    }
    // One task per (capture, shard): every capture's three shard directories are there.
    let groups = std::fs::read_dir(&out).expect("out").count();
    assert_eq!(groups, all_captures().len());
}

// ---- HAR ----

fn har_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(common::root().join("tests/data/har-1.2.schema.json"))
        .expect("HAR schema");
    let schema: Value = serde_json::from_str(&text).expect("HAR schema is JSON");
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the HAR schema compiles")
}

#[test]
fn har_files_are_valid_har_with_every_exchange_and_websocket_message() {
    let validator = har_validator();
    let tmp = tempfile::tempdir().expect("temp dir");
    let (mut websockets, mut subs) = (0, 0);
    for (i, file) in all_captures().into_iter().enumerate() {
        let har_path = tmp.path().join(format!("{i}.har"));
        let run = common::sockscope(&[
            "read".as_ref(),
            "--json".as_ref(),
            "--any-port".as_ref(),
            "--har".as_ref(),
            har_path.as_os_str(),
            file.as_os_str(),
        ]);
        let report = run.report();
        let name = file.display();
        let har: Value =
            serde_json::from_str(&std::fs::read_to_string(&har_path).expect("HAR written"))
                .unwrap_or_else(|e| panic!("{name}: HAR is not JSON: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&har)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: not HAR 1.2: {errors:#?}");
        let entries = har["log"]["entries"].as_array().expect("entries");
        // One entry per request; responses to requests never seen have their own.
        let requests = report
            .of_type("http")
            .filter(|r| str_of(r, "kind") == Some("request"))
            .count();
        assert!(
            entries.len() >= requests,
            "{name}: {} entries, {requests} requests",
            entries.len()
        );
        for e in entries {
            let t = &e["timings"];
            let parts = ["send", "wait", "receive"].map(|k| t[k].as_f64().expect("timing"));
            assert!(parts.iter().all(|&p| p >= 0.0), "{name}: {t}");
            let total: f64 = parts.iter().sum();
            assert!(
                (e["time"].as_f64().unwrap() - total).abs() < 1e-6,
                "{name}: {e}"
            );
        }
        for hs in report.of_type("handshake") {
            let flow = hs["flow"].as_u64().unwrap();
            let entry = entries
                .iter()
                .find(|e| {
                    e["connection"].as_str() == Some(flow.to_string().as_str())
                        && e["response"]["status"] == 101
                })
                .unwrap_or_else(|| panic!("{name}: no 101 entry for flow {flow}"));
            let flow_record = report
                .of_type("flow")
                .find(|f| f["flow"].as_u64() == Some(flow))
                .expect("flow record");
            assert_eq!(entry["_communityId"], flow_record["community_id"], "{name}");
            assert_eq!(entry["_flow"], flow, "{name}");
            let msgs = entry["_webSocketMessages"]
                .as_array()
                .expect("_webSocketMessages");
            let want: Vec<&Value> = report.of_flow("ws_message", flow);
            assert_eq!(msgs.len(), want.len(), "{name}: flow {flow}");
            for (got, want) in msgs.iter().zip(&want) {
                let ty = if str_of(want, "dir") == Some("c2s") {
                    "send"
                } else {
                    "receive"
                };
                assert_eq!(got["type"], ty, "{name}");
                assert_eq!(got["time"].as_f64(), want["ts"].as_f64(), "{name}");
                let op = if str_of(want, "opcode") == Some("text") {
                    1
                } else {
                    2
                };
                assert_eq!(got["opcode"], op, "{name}");
                // The sub-protocol units: the record's `sub` and `sub_more`, in order.
                let mut units: Vec<Value> = want.get("sub").into_iter().cloned().collect();
                if let Some(more) = want.get("sub_more").and_then(Value::as_array) {
                    units.extend(more.iter().cloned());
                }
                subs += usize::from(!units.is_empty());
                match got.get("_sub") {
                    Some(sub) => assert_eq!(sub, &Value::Array(units), "{name}"),
                    None => assert!(units.is_empty(), "{name}: {want}"),
                }
                // A text message kept whole (under --max-message) is all there, byte for byte;
                // the JSON preview (escaped for display) begins it.
                let data = str_of(got, "data").unwrap();
                if op == 1 && want["len"].as_u64() < Some(1000) && want["valid_utf8"] == true {
                    assert_eq!(
                        Some(data.len() as u64),
                        want["len"].as_u64(),
                        "{name}: {got}"
                    );
                    let preview = str_of(want, "preview").unwrap();
                    if !preview.contains('\\') {
                        assert!(data.starts_with(preview), "{name}: {got} vs {want}");
                    }
                }
            }
            websockets += 1;
        }
    }
    assert!(websockets > 10, "{websockets}");
    assert!(subs > 10, "messages with sub-protocol units: {subs}");
}

// ---- Zeek logs ----

/// A Zeek TSV log read as zeek-cut reads it: the separator from `#separator`, field names from
/// `#fields`, types from `#types`, rows as maps of name → raw value.
fn zeek_log(path: &Path) -> (Vec<String>, Vec<String>, Vec<BTreeMap<String, String>>) {
    let text = std::fs::read_to_string(path).expect("log");
    let mut lines = text.lines();
    let first = lines.next().expect("#separator line");
    let sep = first.strip_prefix("#separator ").expect("#separator first");
    assert_eq!(sep, "\\x09");
    let sep = '\t';
    let (mut fields, mut types, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    let mut closed = false;
    let mut meta = BTreeMap::new();
    for line in lines {
        if let Some(head) = line.strip_prefix('#') {
            let (key, value) = head.split_once(sep).expect("header line with a value");
            match key {
                "fields" => fields = value.split(sep).map(str::to_string).collect(),
                "types" => types = value.split(sep).map(str::to_string).collect(),
                "close" => closed = true,
                _ => {
                    meta.insert(key.to_string(), value.to_string());
                }
            }
            continue;
        }
        assert!(!closed, "a row after #close");
        let values: Vec<&str> = line.split(sep).collect();
        assert_eq!(values.len(), fields.len(), "{line}");
        rows.push(
            fields
                .iter()
                .cloned()
                .zip(values.iter().map(|v| v.to_string()))
                .collect(),
        );
    }
    assert!(closed, "no #close line");
    assert_eq!(meta["set_separator"], ",");
    assert_eq!(meta["empty_field"], "(empty)");
    assert_eq!(meta["unset_field"], "-");
    assert!(meta.contains_key("open") && meta.contains_key("path"));
    assert_eq!(fields.len(), types.len());
    (fields, types, rows)
}

#[test]
fn zeek_logs_read_as_zeek_cut_reads_them() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut handshakes = 0;
    for (i, file) in all_captures().into_iter().enumerate() {
        let dir = tmp.path().join(format!("{i}"));
        let jdir = tmp.path().join(format!("{i}-json"));
        let report = common::sockscope(&[
            "read".as_ref(),
            "--json".as_ref(),
            "--any-port".as_ref(),
            "--zeek".as_ref(),
            dir.as_os_str(),
            file.as_os_str(),
        ])
        .report();
        let run = common::sockscope(&[
            "read".as_ref(),
            "-q".as_ref(),
            "--any-port".as_ref(),
            "--zeek-json".as_ref(),
            "--zeek".as_ref(),
            jdir.as_os_str(),
            file.as_os_str(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let name = file.display();
        let flows = report.flows();
        let (fields, types, ws) = zeek_log(&dir.join("websocket.log"));
        assert_eq!(
            fields[..8],
            [
                "ts",
                "uid",
                "id.orig_h",
                "id.orig_p",
                "id.resp_h",
                "id.resp_p",
                "host",
                "uri"
            ]
        );
        assert_eq!(types[10], "vector[string]");
        let hs: Vec<&Value> = report.of_type("handshake").collect();
        assert_eq!(ws.len(), hs.len(), "{name}");
        let (_, _, http) = zeek_log(&dir.join("http.log"));
        let requests = report
            .of_type("http")
            .filter(|r| str_of(r, "kind") == Some("request"))
            .count();
        assert_eq!(http.len(), requests, "{name}");
        let mut uids = BTreeMap::new();
        for row in &http {
            let f = flows
                .values()
                .find(|f| str_of(f, "community_id") == Some(&row["community_id"]))
                .unwrap_or_else(|| panic!("{name}: http.log row of no flow: {row:?}"));
            let client = str_of(f, "client").unwrap();
            assert_eq!(host(client), row["id.orig_h"], "{name}");
            assert!(client.ends_with(&format!(":{}", row["id.orig_p"])));
            uids.insert(row["community_id"].clone(), row["uid"].clone());
            assert!(row["ts"].parse::<f64>().is_ok());
        }
        for (row, h) in ws.iter().zip(&hs) {
            let key = str_of(h, "key").map_or("-".to_string(), |k| k.to_string());
            assert_eq!(row["client_key"], key, "{name}");
            assert_eq!(
                uids.get(&row["community_id"]),
                Some(&row["uid"]),
                "{name}: same uid"
            );
            handshakes += 1;
        }
        // The JSON logs: one object per row, the same fields (unset ones left out).
        for (log, rows) in [("websocket.log", &ws), ("http.log", &http)] {
            let text = std::fs::read_to_string(jdir.join(log)).expect("JSON log");
            let objs: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("JSON"))
                .collect();
            assert_eq!(objs.len(), rows.len(), "{name} {log}");
            for (o, row) in objs.iter().zip(rows.iter()) {
                assert_eq!(o["uid"].as_str(), Some(row["uid"].as_str()));
                for k in o.as_object().unwrap().keys() {
                    assert!(fields.contains(k) || row.contains_key(k), "{log}: {k}");
                }
            }
        }
    }
    assert!(handshakes > 10, "{handshakes}");
}

#[test]
#[cfg(feature = "parquet")]
fn parquet_rolls_into_parts_that_together_hold_what_json_says() {
    let python = match python_with("duckdb") {
        Ok(p) => p,
        Err(why) => {
            common::skip(why);
            return;
        }
    };
    // long-poll.pcap spans six seconds: parts of 0.6 s (0.01 minutes) cut it in several.
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = common::capture("long-poll.pcap");
    let dir = tmp.path().join("rolled");
    let run = common::sockscope(&[
        "read".as_ref(),
        "--format".as_ref(),
        "parquet".as_ref(),
        "--ws-frames".as_ref(),
        "--roll".as_ref(),
        "0.01".as_ref(),
        "--out".as_ref(),
        dir.as_os_str(),
        file.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let parts = std::fs::read_dir(&dir)
        .expect("out dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("part="))
        })
        .count();
    assert!(parts >= 3, "{parts} parts");
    let json = common::sockscope(&["read".as_ref(), "--json".as_ref(), file.as_os_str()]);
    let jsonl = tmp.path().join("lp.jsonl");
    std::fs::write(&jsonl, &json.stdout).expect("write");
    let out = Command::new(python)
        .arg(common::root().join("tests/interop/parquet_vs_json.py"))
        .arg(&jsonl)
        .arg(&dir)
        .output()
        .expect("run the DuckDB comparison");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for bad in ["0", "-1", "x"] {
        let run = common::sockscope(&[
            "read",
            "--format",
            "parquet",
            "--out",
            "x",
            "--roll",
            bad,
            "captures/ws-chat.pcap",
        ]);
        assert_eq!(run.code, 2, "{bad}");
    }
}
