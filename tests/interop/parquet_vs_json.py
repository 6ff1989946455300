"""Reads sockscope's Parquet tables with DuckDB and compares them with `read --json` of the same
capture: every record of every type is one row of its table, every field equal (lists as lists,
times as the same doubles), every column the record lacks null, and summary.json equal to the
summary line (rolled files, `part=N/`, together). Arguments: pairs of (JSON Lines file, Parquet directory). Prints one line per
difference and exits 1 if there is any."""

import glob
import json
import sys
from collections import defaultdict

import duckdb

TABLES = {
    "flow": "flows",
    "http": "http",
    "handshake": "handshakes",
    "ws_message": "ws_messages",
    "ws_frame": "ws_frames",
    "sse_event": "sse_events",
    "anomaly": "anomalies",
    "tls": "tls",
    "latency": "latency",
}


def key(row):
    return json.dumps(row, sort_keys=True)


def main(args):
    problems = []
    con = duckdb.connect()
    for jsonl, outdir in zip(args[0::2], args[1::2]):
        records = [json.loads(line) for line in open(jsonl, encoding="utf-8")]
        summary = records.pop()
        by_type = defaultdict(list)
        for r in records:
            by_type[r.pop("type")].append(r)
        unknown = set(by_type) - set(TABLES)
        if unknown:
            problems.append(f"{jsonl}: record types without a table here: {sorted(unknown)}")
        for rtype, table in TABLES.items():
            # Files rolled over time (--roll) are parts of one table.
            parts = glob.glob(f"{outdir}/part=*/{table}.parquet")
            files = parts if parts else glob.glob(f"{outdir}/{table}.parquet")
            if not files:
                # A table made on first use (tls) exists only where such records are.
                if by_type.get(rtype):
                    problems.append(f"{jsonl}: {rtype} records but no {table}.parquet")
                continue
            cur = con.execute("SELECT * FROM read_parquet(?, hive_partitioning = false)", [files])
            columns = [d[0] for d in cur.description]
            # Objects are JSON columns: DuckDB hands their text back, compared as values.
            json_cols = {d[0] for d in cur.description if str(d[1]).upper() == "JSON"}
            rows = [
                {c: json.loads(v) if c in json_cols and v is not None else v
                 for c, v in zip(columns, r)}
                for r in cur.fetchall()
            ]
            want = []
            for r in by_type.get(rtype, []):
                extra = set(r) - set(columns)
                if extra:
                    problems.append(f"{jsonl}: {rtype} fields without a column: {sorted(extra)}")
                want.append({c: r.get(c) for c in columns})
            got = sorted(key(r) for r in rows)
            want = sorted(key(r) for r in want)
            if got != want:
                missing = set(want) - set(got)
                surplus = set(got) - set(want)
                problems.append(
                    f"{jsonl}: {table}: {len(got)} rows, {len(want)} records; "
                    f"not in Parquet: {sorted(missing)[:3]}; not in JSON: {sorted(surplus)[:3]}"
                )
        written = json.loads(open(f"{outdir}/summary.json", encoding="utf-8").read())
        if written != summary:
            problems.append(f"{jsonl}: summary.json differs: {written} != {summary}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
