#!/usr/bin/env python3
"""Run sockscope over a directory of captures on a Dask cluster, then ask DuckDB questions
about all of it.

One Dask task per (capture group, shard): a capture group is the files read as one capture
(a rotated set: `dump-0001.pcap`, `dump-0002.pcap`, … grouped by --group), and each group is
split into --shards shards with `sockscope read --shard K/N`, so a group's flows are spread over
N tasks and every flow stays whole in one of them. Each task writes Parquet
(`sockscope read --format parquet`) to OUT/group=G/shard=K/. DuckDB then reads every table of
every task as one (hive partitioning adds the `group` and `shard` columns) and answers:

- top talkers: hosts by TCP payload bytes sent (as a client and as a server);
- messages per second: WebSocket data messages in each second of capture time;
- p99 message size per host: the 99th percentile (nearest rank) of the WebSocket messages each
  host sent;
- anomaly counts by code.

The same script runs on a LocalCluster (the default) and on a real cluster
(--scheduler tcp://host:8786): see README.md beside it.

    python sockscope_dask.py CAPTURES --out OUT [--shards N] [--scheduler ADDR] [--answers FILE]

CAPTURES is a directory (searched recursively for *.pcap, *.pcapng, *.cap and their .gz), a
glob, or an fsspec URL prefix (s3://bucket/captures/, gcs://…; needs fsspec and the filesystem's
package on the workers): a task then copies its group's files to local disk first. OUT must be
a path every worker can write and this process can read (shared storage on a real cluster).
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict

CAPTURE = re.compile(r"\.(pcap|pcapng|cap)(\.gz)?$", re.IGNORECASE)


def list_captures(source):
    """The capture files named by `source`: a directory, a glob or a URL prefix."""
    if "://" in source and not source.startswith("file://"):
        import fsspec

        fs, _, paths = fsspec.get_fs_token_paths(source.rstrip("/") + "/**")
        protocol = source.split("://", 1)[0]
        return sorted(f"{protocol}://{p}" for p in paths if CAPTURE.search(p))
    if os.path.isdir(source):
        found = []
        for root, _, names in os.walk(source):
            found += [os.path.join(root, n) for n in names if CAPTURE.search(n)]
        return sorted(found)
    return sorted(p for p in glob.glob(source, recursive=True) if CAPTURE.search(p))


def group_captures(files, pattern, base):
    """Files grouped into captures: by the first group of `pattern` matched against the path
    relative to `base`, else one group per file. Files of a group are read together, in
    order."""
    groups = defaultdict(list)
    rx = re.compile(pattern) if pattern else None
    for f in files:
        rel = os.path.relpath(f, base) if "://" not in f else f.split("://", 1)[1]
        m = rx.search(rel) if rx else None
        name = m.group(1) if m else rel
        groups[re.sub(r"[^A-Za-z0-9._-]", "_", name)].append(f)
    return {g: sorted(fs) for g, fs in sorted(groups.items())}


def run_shard(sockscope, files, shard, shards, out, extra):
    """One task: sockscope over one capture group's files, one shard, Parquet into `out`.
    Runs on a worker; returns what it wrote."""
    local = tempfile.mkdtemp(prefix="sockscope-")
    try:
        paths = []
        for i, f in enumerate(files):
            if "://" in f and not f.startswith("file://"):
                import fsspec

                dest = os.path.join(local, f"{i:06d}-{os.path.basename(f)}")
                with fsspec.open(f, "rb") as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                paths.append(dest)
            else:
                paths.append(f)
        # Written beside `out` and renamed into place: a retried task never leaves half a
        # directory behind.
        tmp_out = os.path.join(os.path.dirname(out), "." + os.path.basename(out) + ".partial")
        shutil.rmtree(tmp_out, ignore_errors=True)
        cmd = [sockscope, "read", "--format", "parquet", "--out", tmp_out,
               "--shard", f"{shard}/{shards}", "--no-progress", *extra, *paths]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        os.rename(tmp_out, out)
        return out
    finally:
        shutil.rmtree(local, ignore_errors=True)


# A host is an endpoint without its port (and an IPv6 address without its brackets).
QUERIES = {
    # Bytes each host sent: as the client of a flow (bytes_c2s) and as its server (bytes_s2c).
    "top_talkers": r"""
        WITH sent AS (
            SELECT regexp_replace(client, '^\[?(.*?)\]?:[0-9]+$', '\1') AS host, bytes_c2s AS bytes FROM flows
            UNION ALL
            SELECT regexp_replace(server, '^\[?(.*?)\]?:[0-9]+$', '\1') AS host, bytes_s2c AS bytes FROM flows
        )
        SELECT host, sum(bytes)::BIGINT AS bytes FROM sent
        GROUP BY host ORDER BY bytes DESC, host LIMIT 10
    """,
    # WebSocket data messages per second of capture time.
    "messages_per_second": r"""
        SELECT floor(ts)::BIGINT AS second, count(*) AS messages FROM ws_messages
        GROUP BY second ORDER BY second
    """,
    # The 99th percentile (nearest rank: the ceil(0.99 n)-th smallest) of the sizes of the
    # messages each host sent.
    "p99_message_size": r"""
        WITH sized AS (
            SELECT regexp_replace(CASE WHEN m.dir = 'c2s' THEN f.client ELSE f.server END,
                                  '^\[?(.*?)\]?:[0-9]+$', '\1') AS host,
                   m.len AS len
            FROM ws_messages m JOIN flows f
              ON m."group" = f."group" AND m.shard = f.shard AND m.flow = f.flow
        ), ranked AS (
            SELECT host, len,
                   row_number() OVER (PARTITION BY host ORDER BY len) AS rank,
                   count(*) OVER (PARTITION BY host) AS n
            FROM sized
        )
        SELECT host, len AS p99_len FROM ranked
        WHERE rank = ceil(0.99 * n) ORDER BY host
    """,
    "anomalies_by_code": r"""
        SELECT code, count(*) AS count FROM anomalies GROUP BY code ORDER BY count DESC, code
    """,
}


def answer(out):
    """The questions above, asked of every task's Parquet under `out`."""
    import duckdb

    con = duckdb.connect()
    for table in ("flows", "ws_messages", "anomalies"):
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet("
            f"'{out}/group=*/shard=*/{table}.parquet', hive_partitioning = true, "
            f"union_by_name = true)"
        )
    answers = {}
    for name, sql in QUERIES.items():
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description]
        answers[name] = [dict(zip(cols, row)) for row in cur.fetchall()]
    return answers


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("captures", help="directory, glob or URL prefix of capture files")
    ap.add_argument("--out", required=True, help="directory for the Parquet results")
    ap.add_argument("--shards", type=int, default=4, help="shards per capture group")
    ap.add_argument("--group", default=None,
                    help="regex whose first group names a file's capture group "
                         r"(e.g. '^(.*)-\d+\.pcap$' for tcpdump -G/-C sets); default: one per file")
    ap.add_argument("--scheduler", default=None,
                    help="address of a Dask scheduler (tcp://host:8786); default: a LocalCluster")
    ap.add_argument("--workers", type=int, default=None, help="LocalCluster workers")
    ap.add_argument("--sockscope", default=shutil.which("sockscope") or "sockscope",
                    help="the sockscope binary, as the workers find it")
    ap.add_argument("--answers", default=None, help="also write the answers here as JSON")
    ap.epilog = "Options after -- go to every sockscope run (e.g. -- --any-port -p 8080)."
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.sockscope_args = extra

    from dask.distributed import Client, LocalCluster

    files = list_captures(args.captures)
    if not files:
        sys.exit(f"no capture files under {args.captures}")
    base = args.captures if os.path.isdir(args.captures) else os.path.dirname(args.captures)
    groups = group_captures(files, args.group, base)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    with client:
        futures = [
            client.submit(run_shard, args.sockscope, fs, k, args.shards,
                          os.path.join(out, f"group={g}", f"shard={k}"), args.sockscope_args,
                          key=f"sockscope-{g}-{k}of{args.shards}", pure=False)
            for g, fs in groups.items()
            for k in range(1, args.shards + 1)
        ]
        client.gather(futures)
        if not args.scheduler:
            client.close()
            cluster.close()

    answers = answer(out)
    if args.answers:
        with open(args.answers, "w", encoding="utf-8") as f:
            json.dump(answers, f, indent=1)
    print(f"{len(groups)} capture groups x {args.shards} shards = {len(futures)} tasks -> {out}")
    for name, rows in answers.items():
        print(f"\n{name}:")
        for row in rows:
            print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
