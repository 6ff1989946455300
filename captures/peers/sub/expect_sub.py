"""Expected results of the sub-protocol captures, from what the peers logged, and a check of
each recorded capture with tshark.

    python expect_sub.py expect --name NAME --protocol P --port N --server ADDR --description D \
        --recorded-by CMD --out FILE [--client-log F]... [--server-log F]...
    python expect_sub.py check CAPTURE EXPECTED.json

The expected file (captures/expected/sub/NAME.json) holds, per direction, the sub-protocol
units the peers sent, in order, each with the fields the peers knew (`items`), the record
types those lists cover (`types`: a decoder must produce these, in this order, among its
records of those types), and per direction and request name the requests answered, with
errors, and the slowest round trip the requesting peer measured (`latency`: a latency seen at
the server's veth cannot exceed it).
"""

import argparse
import json
import subprocess
import sys


def load(paths):
    out = []
    for p in paths:
        with open(p) as f:
            out += [json.loads(line) for line in f if line.strip()]
    return sorted(out, key=lambda r: r["ts"])


def by(records, role):
    return [r for r in records if r["role"] == role]


class Latency:
    def __init__(self):
        self.names = {}

    def add(self, dir, name, ms=None, error=False):
        e = self.names.setdefault((dir, name), {"dir": dir, "name": name, "count": 0, "errors": 0, "max_ms": None})
        e["count"] += 1
        e["errors"] += int(error)
        if ms is not None:
            e["max_ms"] = max(e["max_ms"] or 0, ms)

    def list(self):
        return list(self.names.values())


def socketio(logs):
    client, server = by(logs, "client"), by(logs, "server")
    c2s, s2c, lat = [], [], Latency()
    acks = [r for r in client if r["ev"] == "ack"]
    for r in client:
        if r["ev"] == "ack" and r["event"] == "upload":
            c2s.append({"type": "BINARY_EVENT", "event": "upload", "data": [r["args"][0], {"_placeholder": True, "num": 0}], "attachments": 1})
            c2s.append({"type": "ATTACHMENT", "attachment": [1, 1], "len": r["attachment_len"]})
        elif r["ev"] == "ack":
            c2s.append({"type": "EVENT", "event": r["event"], "data": r["args"], "namespace": "/"})
        elif r["ev"] == "emit":
            c2s.append({"type": "EVENT", "event": r["event"], "namespace": r["namespace"]})
        if r["ev"] == "ack":
            lat.add("c2s", r["event"], r["ms"])
    ack_results = iter(a["result"] for a in acks)
    for r in server:
        if r["ev"] == "event" and r.get("namespace") is None:
            if r["event"] == "upload":
                continue  # its ack follows the thumbnail it emits
            s2c.append({"type": "ACK", "data": next(ack_results), "namespace": "/"})
        elif r["ev"] == "emit":
            s2c.append({"type": "BINARY_EVENT", "event": r["event"], "attachments": 1})
            s2c.append({"type": "ATTACHMENT", "attachment": [1, 1], "len": r["attachment_len"]})
            s2c.append({"type": "ACK", "data": [next(ack_results)], "namespace": "/"})
    types = {"c2s": ["EVENT", "BINARY_EVENT", "ATTACHMENT"], "s2c": ["ACK", "BINARY_EVENT", "ATTACHMENT"]}
    return c2s, s2c, types, lat, None


def stomp(logs):
    client = by(logs, "client")
    c2s, s2c, lat = [{"type": "CONNECT"}], [], Latency()
    lat.add("c2s", "CONNECT")
    for r in client:
        if r["ev"] == "connected":
            s2c.append({"type": "CONNECTED", "version": r["version"], "heart_beat": r["heart_beat"]})
            c2s.append({"type": "SUBSCRIBE", "destination": "/queue/sockscope", "id": "sub-0", "receipt": "sub-1"})
        elif r["ev"] == "send":
            c2s.append({"type": "SEND", "destination": r["destination"], "receipt": r["receipt"], "body": r["body"]})
        elif r["ev"] == "receipt":
            s2c.append({"type": "RECEIPT", "receipt_id": r["receipt"]})
            name = "SUBSCRIBE /queue/sockscope" if r["receipt"].startswith("sub") else "SEND /queue/sockscope"
            lat.add("c2s", name, r["ms"])
        elif r["ev"] == "message":
            s2c.append({"type": "MESSAGE", "destination": r["destination"], "body": r["body"]})
        elif r["ev"] == "disconnect":
            c2s.append({"type": "DISCONNECT"})
            # stompjs asks for a receipt; the client logged none before the socket closed.
            e = lat.names.setdefault(("c2s", "DISCONNECT"), {"dir": "c2s", "name": "DISCONNECT", "count": 0, "errors": 0, "max_ms": None})
            e["unanswered"] = 1
    types = {"c2s": ["CONNECT", "SUBSCRIBE", "SEND", "DISCONNECT"], "s2c": ["CONNECTED", "MESSAGE"]}
    # RECEIPTs: the disconnect's own receipt (stompjs names it) is not logged; the others are
    # checked as a subsequence with the MESSAGEs.
    types["s2c"].append("RECEIPT")
    return c2s, s2c, types, lat, {"heartbeats": True}


def mqtt(logs):
    client = by(logs, "client")
    c2s = [{"type": "CONNECT", "client_id": "sockscope-paho", "keep_alive": 60, "version": "3.1.1"}]
    s2c, lat = [], Latency()
    lat.add("c2s", "CONNECT")
    # paho reports a QoS 0 publish as done (on_publish) before publish() returns: no PUBACK.
    qos0 = {r["mid"] for r in client if r["ev"] == "publish" and r["qos"] == 0}
    for r in client:
        ev = r["ev"]
        if ev == "connack":
            s2c.append({"type": "CONNACK", "reason_code": r["reason_code"]})
        elif ev == "subscribe":
            c2s.append({"type": "SUBSCRIBE", "packet_id": r["mid"], "filters": [{"topic": r["topic"], "qos": r["qos"]}]})
        elif ev == "suback":
            s2c.append({"type": "SUBACK", "packet_id": r["mid"], "reason_codes": r["reason_codes"]})
            lat.add("c2s", "SUBSCRIBE")
        elif ev == "publish":
            item = {"type": "PUBLISH", "topic": r["topic"], "qos": r["qos"], "payload_len": r["len"]}
            if r["qos"] > 0:
                item["packet_id"] = r["mid"]
            c2s.append(item)
        elif ev == "puback" and r["mid"] not in qos0:
            s2c.append({"type": "PUBACK", "packet_id": r["mid"]})
        elif ev == "message":
            s2c.append({"type": "PUBLISH", "topic": r["topic"], "qos": r["qos"], "payload_len": r["len"]})
            if r["qos"] > 0:
                lat.add("s2c", f"PUBLISH {r['topic']}")
        elif ev == "pingreq":
            c2s.append({"type": "PINGREQ"})
            s2c.append({"type": "PINGRESP"})
            lat.add("c2s", "PINGREQ")
        elif ev == "unsubscribe":
            c2s.append({"type": "UNSUBSCRIBE", "packet_id": r["mid"], "filters": [{"topic": "sensors/#"}]})
        elif ev == "unsuback":
            s2c.append({"type": "UNSUBACK", "packet_id": r["mid"]})
            lat.add("c2s", "UNSUBSCRIBE")
        elif ev == "disconnect":
            c2s.append({"type": "DISCONNECT"})
    for item in c2s:
        if item["type"] == "PUBLISH" and item["qos"] > 0:
            lat.add("c2s", f"PUBLISH {item['topic']}")
    types = {
        "c2s": ["CONNECT", "SUBSCRIBE", "PUBLISH", "PINGREQ", "UNSUBSCRIBE", "DISCONNECT"],
        "s2c": ["CONNACK", "SUBACK", "PUBLISH", "PUBACK", "PINGRESP", "UNSUBACK"],
    }
    return c2s, s2c, types, lat, None


def graphql(logs):
    client, server = by(logs, "client"), by(logs, "server")
    c2s, s2c, lat = [{"type": "connection_init"}], [{"type": "connection_ack"}], Latency()
    lat.add("c2s", "connection_init")
    firsts = {}
    for r in server:
        if r["ev"] == "subscribe":
            item = {"type": "subscribe", "id": r["id"]}
            if r["operationName"]:
                item["operation_name"] = r["operationName"]
            c2s.append(item)
    ids = iter(i["id"] for i in c2s if i["type"] == "subscribe")
    current = None
    for r in client:
        if r["ev"] not in ("next", "complete", "error"):
            continue
        name = r["operationName"]
        if current is None:
            current = next(ids)
        if r["ev"] == "next":
            s2c.append({"type": "next", "id": current, **({"errors": r["errors"]} if r["errors"] else {})})
            if current not in firsts:
                firsts[current] = True
                lat.add("c2s", name or "(anonymous query)", r["ms"], error=r["errors"] > 0)
        elif r["ev"] in ("complete", "error"):
            s2c.append({"type": r["ev"], "id": current})
            current = None
    types = {"c2s": ["connection_init", "subscribe"], "s2c": ["connection_ack", "next", "complete", "error"]}
    return c2s, s2c, types, lat, None


def jsonrpc(logs):
    client = by(logs, "client")
    c2s, s2c, lat = [], [], Latency()
    for r in client:
        if r["ev"] == "call":
            c2s.append({"type": "request", "method": r["method"], "id": r["id"]})
            reply = r["reply"]
            if "error" in reply:
                s2c.append({"type": "error", "id": reply["id"], "error_code": reply["error"]["code"], "error_message": reply["error"]["message"]})
            else:
                s2c.append({"type": "response", "id": reply["id"], "result": reply["result"]})
            lat.add("c2s", r["method"], r["ms"], error="error" in reply)
        elif r["ev"] == "notification":
            c2s.append({"type": "notification", "method": r["method"]})
        elif r["ev"] == "batch":
            n = len(r["ids"])
            for i, (m, id_) in enumerate(zip(r["methods"], r["ids"])):
                c2s.append({"type": "request", "method": m, "id": id_, "batch": [i + 1, n]})
                lat.add("c2s", m, r["ms"])
            for i, reply in enumerate(r["replies"]):
                s2c.append({"type": "response", "id": reply["id"], "result": reply["result"], "batch": [i + 1, len(r["replies"])]})
    types = {"c2s": ["request", "notification"], "s2c": ["response", "error"]}
    return c2s, s2c, types, lat, None


BUILDERS = {"socket.io": socketio, "stomp": stomp, "mqtt": mqtt, "graphql-transport-ws": graphql, "json-rpc": jsonrpc}
SELECTED = {
    "socket.io": ("url", None),
    "stomp": ("subprotocol", "v12.stomp"),
    "mqtt": ("subprotocol", "mqtt"),
    "graphql-transport-ws": ("subprotocol", "graphql-transport-ws"),
    "json-rpc": ("subprotocol", "jsonrpc-2.0"),
}


def expect(a):
    logs = load(a.client_log + a.server_log)
    c2s, s2c, types, lat, extra = BUILDERS[a.protocol](logs)
    basis, subprotocol = SELECTED[a.protocol]
    out = {
        "capture": f"sub/{a.name}.pcap",
        "description": a.description,
        "recorded_by": a.recorded_by,
        "port": a.port,
        "server": a.server,
        "protocol": a.protocol,
        "basis": basis,
        "subprotocol": subprotocol,
        "types": types,
        "items": {"c2s": c2s, "s2c": s2c},
        "latency": lat.list(),
        "warnings": [],
    }
    if extra:
        out.update(extra)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


def check(capture, expected_path):
    """tshark, independently: one WebSocket connection on the port with the expected
    subprotocol; for MQTT, its own MQTT dissector must see the same packets in order."""
    exp = json.load(open(expected_path))
    port = exp["port"]
    decode = ["-d", f"tcp.port=={port},http"] if port != 80 else []
    base = ["tshark", "-r", capture, "-o", "tcp.reassemble_out_of_order:TRUE", *decode]
    problems = []
    proto = subprocess.run(base + ["-Y", "websocket.payload or http.response.code == 101", "-T", "fields", "-e", "http.sec_websocket_protocol"], capture_output=True, text=True).stdout.split()
    if exp["subprotocol"] and exp["subprotocol"] not in proto:
        problems.append(f"tshark sees no 101 with Sec-WebSocket-Protocol {exp['subprotocol']} ({proto})")
    frames = subprocess.run(base + ["-Y", "websocket", "-T", "fields", "-e", "frame.number"], capture_output=True, text=True).stdout.split()
    if not frames:
        problems.append("tshark sees no WebSocket frame")
    if exp["protocol"] == "mqtt":
        # tshark 4.0 does not hand WebSocket payloads to its MQTT dissector: give it each
        # side's unmasked payloads as a TCP stream to port 1883 (text2pcap), one segment per
        # message, and compare the packet types it finds with what the peers logged.
        names = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT"}
        rows = subprocess.run(base + ["-Y", "websocket.opcode == 2", "-T", "fields", "-e", "tcp.dstport", "-e", "data.data"], capture_output=True, text=True).stdout.splitlines()
        for d, ports in (("c2s", "50000,1883"), ("s2c", "1883,50000")):
            payloads = [bytes.fromhex(h) for row in rows for dport, h in [row.split("\t")] if (dport == str(port)) == (d == "c2s") and h]
            dump = "".join("".join(f"{o:06x} " + " ".join(f"{b:02x}" for b in p[o:o + 16]) + "\n" for o in range(0, len(p), 16)) for p in payloads)
            tmp = f"{capture}.{d}.tmp.pcap"
            subprocess.run(["text2pcap", "-q", "-T", ports, "-", tmp], input=dump, text=True, check=True)
            out = subprocess.run(["tshark", "-r", tmp, "-Y", "mqtt", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-e", "mqtt.msgtype"], capture_output=True, text=True).stdout.split()
            subprocess.run(["rm", "-f", tmp])
            seen = [names.get(int(t), t) for row in out for t in row.split("|")]
            want = [i["type"] for i in exp["items"][d] if i["type"] in exp["types"][d]]
            it = iter(seen)
            if not all(t in it for t in want):
                problems.append(f"{d}: tshark's MQTT dissector sees {seen}, the peers logged {want}")
    print(f"{capture}: {len(frames)} WebSocket frames (tshark); " + ("OK" if not problems else "; ".join(problems)))
    sys.exit(1 if problems else 0)


def main():
    if sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
        return
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("--name", required=True)
    p.add_argument("--protocol", required=True, choices=sorted(BUILDERS))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--description", required=True)
    p.add_argument("--recorded-by", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--client-log", action="append", default=[])
    p.add_argument("--server-log", action="append", default=[])
    expect(p.parse_args())


if __name__ == "__main__":
    main()
