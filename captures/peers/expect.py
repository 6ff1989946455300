"""Build captures/expected/<capture>.json from what the peers logged during a recording.

Nothing here looks at the capture file: every value comes from the JSON-lines logs the peers
wrote (see peerlog.py and ws_client.js). The schema is documented in captures/README.md.

    python expect.py --capture ws-chat.pcap --out expected/ws-chat.json --port 80 \
        --server-log srv.jsonl [--client-log cli.jsonl ...] [--anomaly CODE ...] ...
"""

import argparse
import json
import sys

SCHEMA = "sockscope-expected/1"


def load(paths):
    records = []
    for path in paths:
        with open(path) as f:
            records.extend(json.loads(line) for line in f if line.strip())
    return sorted(records, key=lambda r: r["ts"])


def endpoint(addr):
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def entry(record):
    # Control frames are never fragmented; a data message's frame count is known to its sender.
    frames = 1 if record["opcode"] in ("ping", "pong", "close") else record.get("frames")
    return {"opcode": record["opcode"], "len": record["len"], "sha256": record["sha256"], "frames": frames}


def dumps(value, indent=0):
    """JSON with one line per innermost object or list, so that files diff and read well."""
    flat = not isinstance(value, (dict, list)) or all(not isinstance(v, (dict, list)) for v in (value.values() if isinstance(value, dict) else value))
    if flat:
        return json.dumps(value)
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if not value:
        return "[]"
    items = [f"{inner}{dumps(v, indent + 1)}" for v in value]
    return "[\n" + ",\n".join(items) + f"\n{pad}]"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--capture", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--description", required=True)
    p.add_argument("--recorded-by", required=True)
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--server", required=True, action="append", help="server address as the client saw it (repeatable)")
    p.add_argument("--link-type", action="append", default=[])
    p.add_argument("--server-log", action="append", default=[])
    p.add_argument("--client-log", action="append", default=[])
    p.add_argument("--anomaly", action="append", default=[])
    p.add_argument("--midstream", action="store_true", help="keep only what happened after the client's capture_running")
    p.add_argument("--removed-s2c-message", type=int, default=None, help="index of a server message cut out of the file")
    p.add_argument("--removed-frame", type=int, default=None)
    p.add_argument("--truncated-snaplen", type=int, default=None)
    p.add_argument("--crafted", action="store_true")
    p.add_argument("--note", action="append", default=[])
    a = p.parse_args()

    server = load(a.server_log)
    clients = load(a.client_log)
    start_ts = None
    if a.midstream:
        start_ts = next(r["ts"] for r in clients if r["ev"] == "capture_running")

    # Flows: one per client endpoint the server(s) logged, in the order they first appear.
    flows = {}
    current_ws = None
    ws_records = {}
    for r in server:
        peer = tuple(r["peer"]) if r.get("peer") else None
        if peer and peer not in flows:
            flows[peer] = {"http": [], "handshake": None, "first_ts": r["ts"]}
        if r["ev"] == "connection":
            flows[peer]["local"] = r.get("local")
        elif r["ev"] == "handshake":
            flows[peer]["handshake"] = r
            current_ws = peer
            ws_records.setdefault(peer, [])
        elif r["ev"] == "http":
            flows[peer]["http"].append(r)
        elif current_ws is not None and r["ev"] in ("msg_sent", "msg_rcvd", "ping_sent", "pong_rcvd", "closed", "close_sent", "close_rcvd", "injected"):
            ws_records[current_ws].append(r)
    order = sorted(flows, key=lambda k: flows[k]["first_ts"])
    ids = {peer: i + 1 for i, peer in enumerate(order)}

    # Client logs belong to the WebSocket flow whose client port they name.
    ws_peers = [peer for peer in order if flows[peer]["handshake"]]
    client_by_flow = {peer: [] for peer in ws_peers}
    local_to_peer = {}
    for r in clients:
        if r.get("local"):
            port = r["local"][1]
            match = [peer for peer in ws_peers if peer[1] == port]
            if match:
                local_to_peer[r["role"]] = match[0]
    for r in clients:
        peer = local_to_peer.get(r["role"]) or (ws_peers[0] if len(ws_peers) == 1 else None)
        if peer is not None:
            client_by_flow[peer].append(r)

    keep = (lambda r: r["ts"] >= start_ts) if start_ts is not None else (lambda r: True)

    connections, http, websocket, sse, injected, problems = [], [], [], [], [], []
    server_for = {}
    for peer in order:
        f = flows[peer]
        fid = ids[peer]
        hs = f["handshake"]
        targets = [h["target"] or "" for h in f["http"]]
        if hs and hs["status"] == 101:
            kind = "websocket"
        elif not hs and not f["http"]:
            # A connection that never carried a byte of HTTP (a browser's spare connection).
            kind = "other"
        elif any(t.startswith("/events") for t in targets):
            kind = "sse"
        elif sum(t.startswith("/poll/long") for t in targets) >= 2:
            kind = "long-poll"
        else:
            kind = "http"
        local = f.get("local") or (hs or {}).get("local")
        srv = endpoint(local) if local else endpoint((a.server[0], a.port))
        if not local and len(a.server) > 1:
            # Several server addresses (two-links): the one in the same family/range as the client.
            same = [s for s in a.server if s.split(".")[0] == peer[0].split(".")[0]]
            srv = endpoint((same[0] if same else a.server[0], a.port))
        connections.append({"id": fid, "client": endpoint(peer), "server": srv, "kind": kind, "midstream": bool(a.midstream)})

        exchanges = []
        if hs and keep(hs):
            exchanges.append({"flow": fid, "method": hs["method"], "target": hs["target"], "status": hs["status"],
                              "request_body_len": 0, "response_body_len": 0, "chunked": False, "upgrade": "websocket"})
        # A request the server could not parse is known from the client's log, when the client
        # logged what it sent on that connection.
        sent = [r for r in clients if r["ev"] == "request_sent" and r.get("local") and r["local"][1] == peer[1]]
        for h in f["http"]:
            if h["method"] is None and sent:
                first = sent.pop(0)
                h = dict(h, method=first["method"], target=first["target"])
            exchanges.append({"flow": fid, "method": h["method"], "target": h["target"], "status": h["status"],
                              "request_body_len": h.get("req_body"), "response_body_len": h.get("resp_body"),
                              "chunked": h.get("chunked", False), "upgrade": h.get("upgrade")})
        http.extend(exchanges)

        if kind == "sse":
            events = [{"event": r["event"], "id": r["id"], "data": r["data"]} for r in server if r["ev"] == "sse_sent"]
            sse.append({"flow": fid, "events": events})

        if not hs:
            continue
        srv_recs = [r for r in ws_records.get(peer, []) if keep(r)]
        cli_recs = [r for r in client_by_flow.get(peer, []) if keep(r)]
        have_client = bool(cli_recs) or any(r["ev"] == "msg_sent" for r in client_by_flow.get(peer, []))
        if have_client:
            c2s = [r for r in cli_recs if r["ev"] in ("msg_sent", "ping_sent")] + [r for r in srv_recs if r["ev"] == "pong_rcvd"]
        else:
            # A browser keeps no log: what the server received is what the client sent.
            c2s = [dict(r, frames=None) for r in srv_recs if r["ev"] == "msg_rcvd"]
        s2c = [r for r in srv_recs if r["ev"] in ("msg_sent", "ping_sent")] + [r for r in cli_recs if r["ev"] == "pong_rcvd"]
        c2s.sort(key=lambda r: r["ts"])
        s2c.sort(key=lambda r: r["ts"])

        # Cross-check: every data message one side sent, the other side received, in order.
        def data(rs):
            return [(r["opcode"], r["len"], r["sha256"]) for r in rs if r["opcode"] in ("text", "binary")]

        if have_client:
            got = data([r for r in srv_recs if r["ev"] == "msg_rcvd"])
            if data(c2s) != got:
                problems.append(f"flow {fid}: client sent {data(c2s)} but server received {got}")
            got = data([r for r in cli_recs if r["ev"] == "msg_rcvd"])
            if data(s2c) != got and not any(r["ev"] == "injected" for r in srv_recs + cli_recs):
                problems.append(f"flow {fid}: server sent {data(s2c)} but client received {got}")

        def first(recs, ev):
            return next((r for r in recs if r["ev"] == ev), None)

        def close_of(sender_recs, receiver_recs, sender_closed_key, receiver_closed_key):
            r = first(sender_recs, "close_sent")
            if r:
                return [r["code"], r["reason"]]
            for recs, key in ((sender_recs, sender_closed_key), (receiver_recs, receiver_closed_key)):
                closed = first(recs, "closed")
                if closed and closed.get(key) is not None:
                    return closed[key]
            return None

        close = {
            "c2s": close_of(cli_recs, srv_recs, "close_sent", "close_rcvd"),
            "s2c": close_of(srv_recs, cli_recs, "close_sent", "close_rcvd"),
        }
        removed = None
        if a.removed_s2c_message is not None:
            data_s2c = [r for r in s2c if r["opcode"] in ("text", "binary")]
            victim = data_s2c[a.removed_s2c_message]
            s2c = [r for r in s2c if r is not victim]
            removed = {"flow": fid, "dir": "s2c", "message": entry(victim), "frame_removed": a.removed_frame}
        ext = hs.get("extensions")
        websocket.append({
            "flow": fid,
            "subprotocol": hs.get("subprotocol"),
            "extensions": ext,
            "deflate": bool(ext and "permessage-deflate" in ext),
            "client_to_server": [entry(r) for r in c2s],
            "server_to_client": [entry(r) for r in s2c],
            "close": close,
        })
        if removed:
            websocket[-1]["removed"] = removed
        for r in srv_recs + cli_recs:
            if r["ev"] == "injected":
                injected.append({"flow": fid, "dir": "c2s" if r["role"] == "client" else "s2c",
                                 "anomaly": r["anomaly"], "bytes_hex": r["hex"], "note": r["note"],
                                 "also_listed": r.get("also_listed", False)})

    for r in server + clients:
        if r["ev"] in ("timeout", "script_error"):
            problems.append(f"{r['role']}: {r['ev']} {r.get('message', '')}")
    # Raw client peers against an HTTP-less websockets server log their own handshake.
    for r in clients:
        if r["ev"] == "injected" and not any(i["bytes_hex"] == r["hex"] for i in injected):
            injected.append({"flow": 1, "dir": "c2s", "anomaly": r["anomaly"], "bytes_hex": r["hex"], "note": r["note"],
                                 "also_listed": r.get("also_listed", False)})

    out = {
        "schema": SCHEMA,
        "capture": a.capture,
        "description": a.description,
        "recorded_by": a.recorded_by,
        "crafted": a.crafted,
        "link_types": a.link_type,
        "port": a.port,
        "flows": len(connections),
        "connections": connections,
        "http": http,
        "websocket": websocket,
        "sse": sse,
        "anomalies": sorted(set(a.anomaly)),
    }
    if injected:
        out["injected"] = injected
    if a.truncated_snaplen:
        out["snaplen"] = a.truncated_snaplen
    if a.note:
        out["notes"] = a.note
    with open(a.out, "w") as f:
        f.write(dumps(out) + "\n")
    if problems:
        for problem in problems:
            print("expect.py: " + problem, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
