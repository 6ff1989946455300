"""Check a recorded capture against its expected JSON with tshark (an independent dissector).

    python check.py CAPTURE EXPECTED.json

Prints one summary line. For captures outside bad/ every check must hold (exit 1 otherwise);
for bad/ captures only the flow count must, the rest is printed for the record, since tshark
itself may dissect rule-breaking frames differently.
"""

import collections
import json
import os
import subprocess
import sys

capture, expected_path = sys.argv[1], sys.argv[2]
exp = json.load(open(expected_path))
port = exp["port"]
strict = "/bad/" not in capture
midstream = any(c["midstream"] for c in exp["connections"])
decode = ["-d", f"tcp.port=={port},http"] if port != 80 else []
if midstream:
    # Without the handshake tshark needs to be told the stream is WebSocket.
    decode = ["-d", f"tcp.port=={port},websocket"]


def tshark(*args):
    out = subprocess.run(["tshark", "-r", capture, "-o", "tcp.reassemble_out_of_order:TRUE", *decode, *args], capture_output=True, text=True)
    return out.stdout


problems = []
packets = len(tshark("-T", "fields", "-e", "frame.number").split())
conversations = sum(1 for line in tshark("-q", "-z", "conv,tcp").splitlines() if "<->" in line)
if conversations != exp["flows"]:
    problems.append(f"tshark sees {conversations} TCP conversations, expected {exp['flows']}")

# Flow ids follow each flow's first packet: the client ports must come in the expected order.
first_seen = {}
for line in tshark("-Y", "tcp", "-T", "fields", "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport").splitlines():
    if line:
        stream, sport, dport = line.split("\t")
        first_seen.setdefault(stream, sport if int(dport) == port else dport)
ports = [first_seen[k] for k in sorted(first_seen, key=int)]
want_ports = [c["client"].rsplit(":", 1)[1] for c in exp["connections"]]
if ports != want_ports:
    problems.append(f"client ports in capture order {ports} != expected {want_ports}")

# Every flow ends inside the file (FIN or RST seen): the capture was not stopped too early.
ended = {l.split("\t")[0] for l in tshark("-Y", "tcp.flags.fin == 1 || tcp.flags.reset == 1", "-T", "fields", "-e", "tcp.stream").splitlines() if l}
if len(ended) != len(first_seen):
    problems.append(f"only {len(ended)} of {len(first_seen)} flows end (FIN/RST) inside the capture")

truncated = "snaplen" in exp
# HTTP exchanges per flow, in order (across flows the order of nearly simultaneous requests
# is up to the scheduler, so only each flow's own sequence is compared).
port_of_flow = {c["id"]: c["client"].rsplit(":", 1)[1] for c in exp["connections"]}
requests, statuses = collections.defaultdict(list), collections.defaultdict(list)
for line in tshark("-Y", "http.request", "-T", "fields", "-E", "aggregator=|", "-e", "tcp.srcport", "-e", "http.request.method", "-e", "http.request.uri").splitlines():
    if line:
        sport, methods, uris = line.split("\t")
        # Several pipelined requests in one packet come as one line.
        requests[sport].extend(zip(methods.split("|"), uris.split("|")))
for line in tshark("-Y", "http.response", "-T", "fields", "-E", "aggregator=|", "-e", "tcp.dstport", "-e", "http.response.code").splitlines():
    if line:
        dport, codes = line.split("\t")
        statuses[dport].extend(codes.split("|"))
want_requests, want_statuses = collections.defaultdict(list), collections.defaultdict(list)


def as_tshark_shows(target):
    """tshark shows each byte of a raw (not percent-encoded) non-ASCII target as U+FFFD."""
    return "".join(c if ord(c) < 128 else "\ufffd" * len(c.encode()) for c in target)


for h in exp["http"]:
    client_port = port_of_flow[h["flow"]]
    if h["method"]:
        want_requests[client_port].append((h["method"], as_tshark_shows(h["target"])))
    if h["status"] is not None:
        want_statuses[client_port].append(str(h["status"]))
if not truncated and dict(requests) != dict(want_requests):
    problems.append(f"HTTP requests {dict(requests)} != expected {dict(want_requests)}")
if not truncated and dict(statuses) != dict(want_statuses):
    problems.append(f"HTTP statuses {dict(statuses)} != expected {dict(want_statuses)}")
request_count = sum(len(v) for v in requests.values())

NAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
seen = {"c2s": collections.Counter(), "s2c": collections.Counter()}
for line in tshark("-Y", "websocket && !tcp.analysis.retransmission", "-T", "fields", "-e", "tcp.srcport", "-e", "websocket.opcode").splitlines():
    if not line.strip():
        continue
    src, opcodes = line.split("\t")
    direction = "s2c" if int(src) == port else "c2s"
    for op in opcodes.split(","):
        seen[direction][NAMES.get(int(op), f"reserved-{op}")] += 1

wanted = {"c2s": collections.Counter(), "s2c": collections.Counter()}
for ws in exp["websocket"]:
    for direction, key in (("c2s", "client_to_server"), ("s2c", "server_to_client")):
        for m in ws[key]:
            wanted[direction][m["opcode"]] += 1
            if (m.get("frames") or 1) > 1:
                wanted[direction]["continuation"] += m["frames"] - 1
        if ws["close"][direction] is not None:
            wanted[direction]["close"] += 1
    removed = ws.get("removed")
    if removed:
        # tshark cannot resynchronise after the hole; count only what precedes it loosely.
        pass
for inj in exp.get("injected", []):
    raw = bytes.fromhex(inj["bytes_hex"])
    if raw.startswith(b"HTTP/") or inj.get("also_listed"):
        continue
    while len(raw) >= 2:  # the rule-breaking frames the raw peer wrote, as tshark will count them
        op, n, pos = raw[0] & 0x0F, raw[1] & 0x7F, 2
        if n == 126:
            n, pos = int.from_bytes(raw[2:4], "big"), 4
        elif n == 127:
            n, pos = int.from_bytes(raw[2:10], "big"), 10
        pos += 4 if raw[1] & 0x80 else 0
        wanted[inj["dir"]][NAMES.get(op, f"reserved-{op}")] += 1
        raw = raw[pos + n:]
ws_ok = seen == wanted
if not ws_ok and not truncated and not any(ws.get("removed") for ws in exp["websocket"]):
    problems.append(f"WebSocket frames seen {dict(seen['c2s'])}/{dict(seen['s2c'])} != expected {dict(wanted['c2s'])}/{dict(wanted['s2c'])}")
retrans = len(tshark("-Y", "tcp.analysis.retransmission", "-T", "fields", "-e", "frame.number").split())

size = os.path.getsize(capture)
name = os.path.relpath(capture, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
summary = (f"{name}: {size} bytes, {packets} packets, {conversations} TCP flows, {request_count} HTTP requests, "
           f"ws frames c2s {dict(seen['c2s'])} s2c {dict(seen['s2c'])}, {retrans} retransmissions")
print(summary)
for p in problems:
    print(f"  {'FAIL' if strict else 'note'}: {p}")
sys.exit(1 if problems and strict else 0)
